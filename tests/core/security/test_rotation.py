"""Key rotation over every secret column, committed for real on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.accounts.models import AdAccount, OAuthState
from core.base import utcnow
from core.db import Database
from core.events.models import SlackInstallation
from core.notify.models import Destination
from core.security.crypto import Cipher, DecryptionFailed, generate_key
from core.security.rotation import SECRET_COLUMNS, rotate_all
from core.users.models import User
from tests import factories

KEY_A = generate_key()
KEY_B = generate_key()


async def seed_secrets(database: Database, cipher: Cipher, *, accounts: int = 3) -> uuid.UUID:
    """One org with a secret in every secret column (several ad accounts)."""
    async with database.system() as session:
        org = await factories.org(session)
        user = await factories.user(session, org)
        user.totp_secret_encrypted = cipher.encrypt("JBSWY3DPEHPK3PXP")
        for n in range(accounts):
            account = await factories.ad_account(session, org)
            account.access_token_encrypted = cipher.encrypt(f"access-{n}")
            account.refresh_token_encrypted = cipher.encrypt(f"refresh-{n}")
        session.add(
            OAuthState(
                state_hash=uuid.uuid4().hex,
                org_id=org.id,
                user_id=user.id,
                platform="google",
                code_verifier_encrypted=cipher.encrypt("verifier"),
                grant_encrypted=cipher.encrypt("held-grant"),
                expires_at=utcnow() + timedelta(minutes=10),
            )
        )
        session.add(
            SlackInstallation(
                team_id=f"T{org.id.hex[:8]}",
                bot_token_encrypted=cipher.encrypt("xoxb"),
                bot_refresh_token_encrypted=cipher.encrypt("xoxe"),
            )
        )
        session.add(
            Destination(
                org_id=org.id,
                channel="slack_webhook",
                conversation_id="T1/B1",
                secret=cipher.encrypt("https://hooks.slack.com/services/T1/B1/x"),
            )
        )
        return org.id


async def read_all(database: Database, cipher: Cipher, org_id: uuid.UUID) -> dict[str, list[str]]:
    async with database.system() as session:
        accounts = list(await session.scalars(select(AdAccount).where(AdAccount.org_id == org_id)))
        user = await session.scalar(select(User).where(User.org_id == org_id))
        state = await session.scalar(select(OAuthState).where(OAuthState.org_id == org_id))
        slack = await session.scalar(
            select(SlackInstallation).where(SlackInstallation.team_id == f"T{org_id.hex[:8]}")
        )
        assert user is not None
        assert state is not None
        hook = await session.scalar(select(Destination).where(Destination.org_id == org_id))
        assert slack is not None
        assert hook is not None
        return {
            "access": sorted(cipher.decrypt(a.access_token_encrypted or "") for a in accounts),
            "refresh": sorted(cipher.decrypt(a.refresh_token_encrypted or "") for a in accounts),
            "totp": [cipher.decrypt(user.totp_secret_encrypted or "")],
            "verifier": [cipher.decrypt(state.code_verifier_encrypted or "")],
            "grant": [cipher.decrypt(state.grant_encrypted or "")],
            "slack": [cipher.decrypt(slack.bot_token_encrypted)],
            "slack_refresh": [cipher.decrypt(slack.bot_refresh_token_encrypted or "")],
            "webhook": [cipher.decrypt(hook.secret or "")],
        }


EXPECTED = {
    "access": ["access-0", "access-1", "access-2"],
    "refresh": ["refresh-0", "refresh-1", "refresh-2"],
    "totp": ["JBSWY3DPEHPK3PXP"],
    "verifier": ["verifier"],
    "grant": ["held-grant"],
    "slack": ["xoxb"],
    "slack_refresh": ["xoxe"],
    "webhook": ["https://hooks.slack.com/services/T1/B1/x"],
}


async def test_rotation_round_trip_a_then_b_a_then_b(database: Database) -> None:
    org_id = await seed_secrets(database, Cipher([KEY_A]))
    both = Cipher([KEY_B, KEY_A])
    progress: list[tuple[str, int]] = []

    report = await rotate_all(
        sessions=database.system,
        cipher=both,
        batch_size=2,
        progress=lambda column: progress.append((column.label, column.scanned)),
    )

    assert report.rotated == 12
    assert report.current == 0
    assert report.unreadable == 0
    assert {c.label: c.rotated for c in report.columns} == {
        "ad_accounts.access_token_encrypted": 3,
        "ad_accounts.refresh_token_encrypted": 3,
        "users.totp_secret_encrypted": 1,
        "oauth_states.code_verifier_encrypted": 1,
        "oauth_states.grant_encrypted": 1,
        "slack_installations.bot_token_encrypted": 1,
        "slack_installations.bot_refresh_token_encrypted": 1,
        "destinations.secret": 1,
    }
    # Batches of 2: the three access tokens report twice.
    assert ("ad_accounts.access_token_encrypted", 2) in progress
    assert ("ad_accounts.access_token_encrypted", 3) in progress

    # Key A is gone now, and every secret still reads.
    assert await read_all(database, Cipher([KEY_B]), org_id) == EXPECTED
    with pytest.raises(DecryptionFailed):
        await read_all(database, Cipher([KEY_A]), org_id)


async def test_rotation_is_idempotent(database: Database) -> None:
    await seed_secrets(database, Cipher([KEY_A]))
    both = Cipher([KEY_B, KEY_A])
    first = await rotate_all(sessions=database.system, cipher=both)
    second = await rotate_all(sessions=database.system, cipher=both)
    assert first.rotated == 12
    assert second.rotated == 0
    assert second.current == 12


async def test_unreadable_secrets_are_reported_not_destroyed(database: Database) -> None:
    org_id = await seed_secrets(database, Cipher([KEY_A]), accounts=1)
    stranger = Cipher([generate_key()])
    async with database.system() as session:
        account = await session.scalar(select(AdAccount).where(AdAccount.org_id == org_id))
        assert account is not None
        account.access_token_encrypted = stranger.encrypt("lost")
        account_id = account.id

    report = await rotate_all(sessions=database.system, cipher=Cipher([KEY_B, KEY_A]))

    access = next(c for c in report.columns if c.label == "ad_accounts.access_token_encrypted")
    assert access.unreadable == [str(account_id)]
    # The other seven secrets (refresh, totp, verifier, held grant, slack bot and refresh,
    # webhook) moved on.
    assert report.rotated == 7
    async with database.system() as session:
        kept = await session.scalar(
            select(AdAccount.access_token_encrypted).where(AdAccount.id == account_id)
        )
    assert stranger.decrypt(kept or "") == "lost"


def test_every_encrypted_column_in_the_schema_is_rotated() -> None:
    from core.models import Base

    in_schema = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    # destinations.secret predates the suffix: a webhook URL is the secret itself.
    assert in_schema | {"destinations.secret"} == {target.label for target in SECRET_COLUMNS}


async def test_a_token_replaced_during_rotation_is_left_alone(database: Database) -> None:
    """Compare-and-set: the app stored a fresh token between our read and our write."""
    from core.security.rotation import ColumnReport, _rotate_batch

    org_id = await seed_secrets(database, Cipher([KEY_A]), accounts=2)
    target = SECRET_COLUMNS[0]  # ad_accounts.access_token_encrypted
    both = Cipher([KEY_B, KEY_A])
    async with database.system() as session:
        rows = list(
            (
                await session.execute(
                    select(AdAccount.id, AdAccount.access_token_encrypted).where(
                        AdAccount.org_id == org_id
                    )
                )
            ).all()
        )
    replaced_id = rows[0][0]
    async with database.system() as session:
        account = await session.get(AdAccount, replaced_id)
        assert account is not None
        account.access_token_encrypted = both.encrypt("refreshed-by-the-app")

    report = ColumnReport(label=target.label)
    async with database.system() as session:
        await _rotate_batch(session, target, both, rows, report)

    assert (report.rotated, report.changed_meanwhile) == (1, 1)
    async with database.system() as session:
        kept = await session.get(AdAccount, replaced_id)
    assert kept is not None
    assert Cipher([KEY_B]).decrypt(kept.access_token_encrypted or "") == "refreshed-by-the-app"

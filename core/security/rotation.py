"""Re-encrypt every stored secret under the newest key, in small transactions, while live."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount, OAuthState
from core.events.models import SlackInstallation
from core.notify.models import Destination
from core.security.crypto import Cipher, DecryptionFailed
from core.users.models import User

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]
ProgressCallback = Callable[["ColumnReport"], None]


@dataclass(frozen=True)
class SecretColumn:
    table: Table
    column: str

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column}"

    @property
    def key(self) -> Column[Any]:
        (primary,) = self.table.primary_key.columns
        return primary


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Every column that holds a MultiFernet token. A new secret column must be added here.
SECRET_COLUMNS: tuple[SecretColumn, ...] = (
    SecretColumn(_table(AdAccount), "access_token_encrypted"),
    SecretColumn(_table(AdAccount), "refresh_token_encrypted"),
    SecretColumn(_table(User), "totp_secret_encrypted"),
    SecretColumn(_table(OAuthState), "code_verifier_encrypted"),
    # The tokens of a consent held until the account pick (15 min at most).
    SecretColumn(_table(OAuthState), "grant_encrypted"),
    SecretColumn(_table(SlackInstallation), "bot_token_encrypted"),
    SecretColumn(_table(SlackInstallation), "bot_refresh_token_encrypted"),
    # A Slack incoming-webhook URL (the web page stores it encrypted).
    SecretColumn(_table(Destination), "secret"),
)


@dataclass
class ColumnReport:
    """Counts for one column; `unreadable` lists row keys no configured key could decrypt."""

    label: str
    scanned: int = 0
    rotated: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    unreadable: list[str] = field(default_factory=list)


@dataclass
class RotationReport:
    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(column.rotated for column in self.columns)

    @property
    def current(self) -> int:
        return sum(column.current for column in self.columns)

    @property
    def unreadable(self) -> int:
        return sum(len(column.unreadable) for column in self.columns)

    @property
    def changed_meanwhile(self) -> int:
        return sum(column.changed_meanwhile for column in self.columns)


async def _rotate_batch(
    session: AsyncSession,
    target: SecretColumn,
    cipher: Cipher,
    rows: list[Any],
    report: ColumnReport,
) -> None:
    column = target.table.c[target.column]
    fresh: dict[Any, str] = {}
    changes: list[dict[str, Any]] = []
    for key, token in rows:
        report.scanned += 1
        if cipher.is_current(token):
            report.current += 1
            continue
        try:
            fresh[key] = cipher.rotate(token)
        except DecryptionFailed:
            report.unreadable.append(str(key))
            continue
        changes.append({"row_key": key, "old_token": token, "new_token": fresh[key]})
    if not changes:
        return
    # Compare-and-set, sent as one executemany: a token the app replaced during the run is
    # left alone (it was written under the newest key already).
    await session.execute(
        update(target.table)
        .where(target.key == bindparam("row_key"), column == bindparam("old_token"))
        .values({column: bindparam("new_token")}),
        changes,
    )
    # executemany has no portable per-row count, so read back which rows now hold our tokens.
    stored = await session.execute(select(target.key, column).where(target.key.in_(list(fresh))))
    landed = sum(1 for key, token in stored if fresh.get(key) == token)
    report.rotated += landed
    report.changed_meanwhile += len(changes) - landed


async def rotate_column(
    *,
    sessions: SessionOpener,
    cipher: Cipher,
    target: SecretColumn,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
) -> ColumnReport:
    """Walk one column in key order, one short transaction per batch, so nothing waits long."""
    report = ColumnReport(label=target.label)
    column = target.table.c[target.column]
    last_key: Any = None
    while True:
        query = select(target.key, column).where(column.is_not(None))
        if last_key is not None:
            query = query.where(target.key > last_key)
        async with sessions() as session:
            rows = list((await session.execute(query.order_by(target.key).limit(batch_size))).all())
            if not rows:
                break
            await _rotate_batch(session, target, cipher, rows, report)
        last_key = rows[-1][0]
        if progress is not None:
            progress(report)
    return report


async def rotate_all(
    *,
    sessions: SessionOpener,
    cipher: Cipher,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
) -> RotationReport:
    """Re-encrypt every secret column under the cipher's newest key; safe to run again."""
    report = RotationReport()
    for target in SECRET_COLUMNS:
        report.columns.append(
            await rotate_column(
                sessions=sessions,
                cipher=cipher,
                target=target,
                batch_size=batch_size,
                progress=progress,
            )
        )
    return report

"""An alert for an org's admins reaches each admin's own chat, in that chat's workspace."""

from __future__ import annotations

from core.config import Settings
from core.db import Database
from core.notify.admin_alerts import notify_admins
from core.users import identity
from core.users.models import Role
from tests import factories
from tests.worker.outbox_fakes import ScriptedChannel, worker_ctx
from worker.notifications import deliver_notifications


async def test_an_admin_alert_without_destinations_goes_to_the_admins_slack_workspace(
    database: Database, settings: Settings
) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org, role=Role.ADMIN)
        await factories.user(session, org, role=Role.MANAGER)  # not an admin: no alert
        code = await identity.create_link_code(session=session, org_id=org.id, user_id=admin.id)
        await identity.redeem_link_code(
            session=session,
            code=code,
            channel="slack",
            workspace="T0AGENCY",
            external_user_id="UADMIN",
        )
    async with database.tenant(org.id) as session:
        rows = await notify_admins(
            session=session,
            org_id=org.id,
            payload={"kind": "auth_error", "text": "Meta stopped accepting our token."},
        )
    assert len(rows) == 1
    slack = ScriptedChannel("slack")
    assert await deliver_notifications(worker_ctx(database, settings, slack=slack)) == 1
    [(address, reply)] = slack.posted
    # Multi-workspace Slack picks the bot token by workspace: it must travel with the row.
    assert (address.workspace, address.conversation_id) == ("T0AGENCY", "UADMIN")
    assert reply.text == "Meta stopped accepting our token."

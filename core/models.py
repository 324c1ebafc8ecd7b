"""Every table, imported in one place so Alembic and create_all see the whole schema."""

from core.accounts.models import AdAccount, OAuthState
from core.approvals.models import ActionStatus, CardMessage, PendingAction
from core.audit.models import AuditLog
from core.auth.models import PasswordResetToken, RecoveryCode, WebSession
from core.base import Base
from core.billing.models import AIUsage
from core.campaigns.models import Campaign, CampaignStatus
from core.conversations.models import Conversation
from core.deliveries.models import OutboundMessage
from core.events.models import DeadLetterJob, ProcessedEvent, SlackInstallation, SlackOAuthState
from core.metrics.models import CampaignMetric
from core.notify.models import Destination, Notification
from core.orgs.models import Organization, PlanTier
from core.rules.models import Alert, Rule
from core.sandbox.models import SandboxAccount, SandboxCampaign, SandboxRevision
from core.users.models import ChannelIdentity, LinkCode, Role, User

# Tables that hold one org's data, with the column RLS checks against app.org_id.
TENANT_TABLES: dict[str, str] = {
    "organizations": "id",
    "users": "org_id",
    "channel_identities": "org_id",
    "link_codes": "org_id",
    "ad_accounts": "org_id",
    "oauth_states": "org_id",
    "campaigns": "org_id",
    "campaign_metrics": "org_id",
    "rules": "org_id",
    "alerts": "org_id",
    "pending_actions": "org_id",
    "audit_logs": "org_id",
    "destinations": "org_id",
    "notifications": "org_id",
    "conversations": "org_id",
    "ai_usage": "org_id",
    "dead_letter_jobs": "org_id",
    "card_messages": "org_id",
    "outbound_messages": "org_id",
    "recovery_codes": "org_id",
}

__all__ = [
    "TENANT_TABLES",
    "AIUsage",
    "ActionStatus",
    "AdAccount",
    "Alert",
    "AuditLog",
    "Base",
    "Campaign",
    "CampaignMetric",
    "CampaignStatus",
    "CardMessage",
    "ChannelIdentity",
    "Conversation",
    "DeadLetterJob",
    "Destination",
    "LinkCode",
    "Notification",
    "OAuthState",
    "Organization",
    "OutboundMessage",
    "PasswordResetToken",
    "PendingAction",
    "PlanTier",
    "ProcessedEvent",
    "RecoveryCode",
    "Role",
    "Rule",
    "SandboxAccount",
    "SandboxCampaign",
    "SandboxRevision",
    "SlackInstallation",
    "SlackOAuthState",
    "User",
    "WebSession",
]

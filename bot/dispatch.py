"""Commands to tools: each parsed command calls the same tool function the agent uses."""

from __future__ import annotations

from bot import commands as c
from bot import exports, tools
from bot.deps import BotDeps
from bot.replies import Reply

HELP_TEXT = """*AdPilot commands*
`campaigns [google|meta|tiktok]` — list campaigns
`report [today|yesterday|7d|14d|30d] [campaign]` — performance (whole account or one campaign)
`report export [30d]` — CSV (per campaign per day) and chart, as files or download links
`pause NAME` / `resume NAME` — ask to pause or resume (needs approval)
`budget NAME 120` or `budget NAME +20%` — ask to change the daily budget (needs approval)
`rules` — list automation rules
`rule add "High CPA" when cpa > 50 over 3d then pause [mode approve]` — create a rule
`approvals` — pending approvals; `approve CODE` / `reject CODE` (or `yes CODE` / `no CODE`)
`undo CODE` — reverse an executed action
`copy PRODUCT [--platform google|meta|tiktok] [--tone playful]` — AI ad copy
`link CODE` — link this chat to your AdPilot user
Names with spaces can be quoted: `pause "Summer Sale"`."""


async def run(command: c.Command, deps: BotDeps) -> Reply:
    """Execute one parsed command for the speaker in `deps`."""
    match command:
        case c.Help():
            return Reply(text=HELP_TEXT)
        case c.Unknown(word=word, suggestion=suggestion):
            return Reply(
                text=f"I don't know `{word}`. Did you mean `{suggestion}`? Type `help` for all.",
                is_error=True,
            )
        case c.Invalid(message=message, usage=usage):
            text = f"{message} Usage: `{usage}`" if usage else message
            return Reply(text=text, is_error=True)
        case c.FreeText():
            return Reply(text="Type `help` to see what I can do.")
        case c.ListCampaigns(platform=platform):
            return await tools.list_campaigns(deps, platform=platform)
        case c.ReportExport(days=days):
            return await exports.export_report(deps, days=days)
        case c.Report(window=window, campaign=None):
            return await tools.account_overview(deps, window=window)
        case c.Report(window=window, campaign=str(name)):
            return await tools.campaign_performance(deps, campaign=name, window=window)
        case _:
            return await _run_action(command, deps)


async def _run_action(command: c.Command, deps: BotDeps) -> Reply:
    match command:
        case c.Pause(name=name):
            return await tools.pause_campaign(deps, campaign=name)
        case c.Resume(name=name):
            return await tools.resume_campaign(deps, campaign=name)
        case c.Budget(name=name, amount=amount, percent=percent):
            return await tools.change_budget(deps, campaign=name, amount=amount, percent=percent)
        case c.ListRules():
            return await tools.list_rules(deps)
        case c.RuleAdd():
            return await tools.create_rule(deps, rule=tools.rule_from_command(command))
        case c.ListApprovals():
            return await tools.list_approvals(deps)
        case c.Decide(code=code, approve=approve):
            return await tools.decide(deps, code=code, approve=approve)
        case c.Undo(code=code):
            return await tools.undo(deps, code=code)
        case c.Copy(product=product, platform="google" | "meta" | "tiktok" as platform):
            return await tools.generate_ad_copy(
                deps, product=product, platform=platform, tone=command.tone, count=command.count
            )
        case c.Link(code=code):
            return await tools.link_identity(deps, code=code)
    return Reply(text="Type `help` to see what I can do.")

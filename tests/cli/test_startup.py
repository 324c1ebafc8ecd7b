"""Start-up cost of the `adpilot` command: what each call imports, as whole processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from channels.cli import admin, chat, demo_seed, schema_state
from core import schema
from core.db import Database
from core.orgs.models import PlanTier
from core.users.models import Role
from tests import factories

ADPILOT = str(Path(sys.executable).with_name("adpilot"))
# What the LLM stack and the database layers bring; `--help` needs none of them.
HEAVY = ("pydantic_ai", "openai", "anthropic", "sqlalchemy", "alembic", "adapters", "bot")


def imported_modules(
    *args: str, env: dict[str, str] | None = None, code: int = 0
) -> tuple[set[str], str]:
    """Every module one `adpilot ARGS` process imports (-X importtime), and its stdout."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", ADPILOT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "120"},
        timeout=120,
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr[-2000:]
    # Lines read "import time: self | cumulative | <indent>module".
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[-1].strip() for line in lines}, result.stdout


def test_help_imports_neither_the_llm_stack_nor_the_database() -> None:
    modules, stdout = imported_modules("--help")
    assert "chat" in stdout
    assert "migrate" in stdout
    assert {name for name in modules if name.split(".")[0] in HEAVY} == set()


@pytest.fixture
async def org_slug(database: Database) -> str:
    async with database.system() as session:
        org = await factories.org(session, name="Startup Co")
        await factories.user(session, org, role=Role.ADMIN, email=f"admin@{org.slug}.example")
        account = await factories.ad_account(session, org)
        await factories.campaign(session, account, name="Quick Start")
        return org.slug


@pytest.mark.parametrize(
    ("text", "answer"),
    [("campaigns", "Quick Start"), ("how did we do this week?", "no AI model is configured")],
)
def test_a_turn_without_a_model_never_imports_pydantic_ai(
    org_slug: str, backend: str, text: str, answer: str
) -> None:
    modules, stdout = imported_modules("chat", "--org", org_slug, "-c", text)
    assert answer in " ".join(stdout.split()), stdout
    assert not {"pydantic_ai", "openai", "anthropic"} & modules
    if backend == "sqlite":
        # Already at the newest migration: the start-up check needed no alembic either.
        assert "alembic" not in modules


def test_with_a_model_configured_free_text_still_loads_the_agent(org_slug: str) -> None:
    # The lazy import must still happen when a model is configured: here one nobody answers
    # for (a closed port), so the turn ends in the "model is not answering" line, exit 1.
    unreachable = {
        "ADPILOT_LLM_MODEL": "openai:gpt-4o-mini",
        "ADPILOT_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    }
    modules, stdout = imported_modules(
        "chat", "--org", org_slug, "-c", "how did we do this week?", env=unreachable, code=1
    )
    assert "pydantic_ai" in modules, stdout
    assert "not answering" in stdout


def test_the_cli_choices_match_core() -> None:
    assert [choice.value for choice in admin.PlanChoice] == [tier.value for tier in PlanTier]
    assert [choice.value for choice in admin.RoleChoice] == [role.value for role in Role]
    assert chat.DEMO_SLUG == demo_seed.DEMO_SLUG


# --- the embedded database's "already migrated" check -------------------------------------------


def test_head_revisions_agree_with_alembic() -> None:
    script = ScriptDirectory.from_config(schema.alembic_config("sqlite://"))
    assert schema_state.head_revisions() == set(script.get_heads())


def test_head_revisions_follow_a_new_migration_and_refuse_odd_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert schema_state.head_revisions(tmp_path) == {"b"}
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = ("a",)\n')
    assert schema_state.head_revisions(tmp_path) == {"b", "c"}
    (tmp_path / "d.py").write_text("revision = make_id()\n")
    assert schema_state.head_revisions(tmp_path) is None


def test_sqlite_at_head_only_when_the_version_table_says_so(tmp_path: Path) -> None:
    path = tmp_path / "embedded.db"
    url = f"sqlite+aiosqlite:///{path}"
    assert not schema_state.sqlite_at_head(url)  # no file yet
    schema.upgrade(url)
    assert schema_state.sqlite_at_head(url)
    schema.downgrade(url, "-1")
    assert not schema_state.sqlite_at_head(url)
    schema.upgrade(url)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE alembic_version")
    assert not schema_state.sqlite_at_head(url)

"""Whether the embedded SQLite database is already at the newest migration, without alembic.

`adpilot chat` migrates the embedded database on every start. Importing alembic and loading its
migration scripts costs more than a whole command turn, and almost every start finds nothing
to do; this answers "nothing to do" from the version table and the migration files alone. Any
doubt (an unreadable file, several heads, another version) answers no, and alembic runs.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sqlite3
from pathlib import Path

from core.security.local_files import sqlite_path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
_ASSIGNMENT = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=\n]+)?=\s*(?P<value>.+?)\s*$", re.MULTILINE
)


def _parents(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, tuple | list) and all(isinstance(item, str) for item in value):
        return set(value)
    raise ValueError(f"unexpected down_revision {value!r}")


def head_revisions(versions: Path = MIGRATIONS) -> set[str] | None:
    """The revisions no other migration builds on; None when a file cannot be read plainly."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        found = {m["name"]: m["value"] for m in _ASSIGNMENT.finditer(script.read_text("utf-8"))}
        try:
            revision = ast.literal_eval(found["revision"])
            parents |= _parents(ast.literal_eval(found.get("down_revision", "None")))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
    return (revisions - parents) or None


def sqlite_at_head(database_url: str) -> bool:
    """True only when the SQLite file exists and records exactly the single head revision."""
    path = sqlite_path(database_url)
    if path is None or not path.is_file():
        return False
    heads = head_revisions()
    if heads is None or len(heads) != 1:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return False
    return {row[0] for row in rows} == heads

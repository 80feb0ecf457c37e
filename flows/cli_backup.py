"""`tate backup`: a verified copy of the journal, safe while the worker writes.

Registered on the one `app` (`flows/cli_app.py`). The copy is SQLite's online backup
(`serving.journal_backup`), written to `TATE_HOME/backups/journal-<UTC stamp>.sqlite` only once
`quick_check` passed on it. The nightly validation deployment takes one as well.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from flows.cli_app import app
from flows.cli_settings import command_settings
from flows.errors import BadSettingError


@app.command()
def backup() -> None:
    """Copy the journal to TATE_HOME/backups (SQLite's online backup API) and verify the copy."""
    settings = command_settings()
    from serving.journal_backup import backup_journal
    from serving.journal_integrity import sqlite_file

    if sqlite_file(settings.journal) is None:
        raise BadSettingError(
            f"TATE_JOURNAL_URL={settings.journal_label!r} is not a SQLite file: back it up with its "
            "database's own tools (pg_dump for PostgreSQL)"
        )
    copy = backup_journal(settings.journal, settings.home, at=datetime.now(UTC))
    if copy is None:
        typer.echo(f"no journal yet at {settings.journal_label}: nothing to back up")
        return
    typer.echo(f"journal backed up to {copy} (verified: quick_check ok)")

"""The project itself as an app: what every process needs before its first database connection.

SQLite creates its database file but not the folder it lies in, so a fresh VAR_DIR (a new checkout, `make test`'s
scratch folder) failed the first `manage.py migrate` with "unable to open database file". Creating it is the job of
whoever opens the database; here, that is every process, before Django connects. Not at settings import, which
should have no side effects. Every other folder under VAR_DIR is created by its writer: the storages on save, the
supervisor for its logs, the autoscaler for its lock and the local provider for its pid files.
"""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.db import connections


class ProjectConfig(AppConfig):
    name = "project"
    verbose_name = "Project"

    def ready(self) -> None:
        make_sqlite_folders()


def make_sqlite_folders() -> None:
    """Create the folder of each SQLite database that is a file (not `:memory:` nor a `file:` URI)."""
    for alias in connections:
        database = connections.settings[alias]
        name = str(database.get("NAME") or "")
        if connections[alias].vendor == "sqlite" and name and name != ":memory:" and not name.startswith("file:"):
            Path(name).parent.mkdir(parents=True, exist_ok=True)

"""`manage.py migrate_once`: the database's migrations, run by every web host at boot and applied by one.

Each host takes a PostgreSQL advisory lock first: the first to get it migrates, the others wait for it, then find
nothing left to do. On SQLite (one host) it is `migrate`."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# Any fixed 64-bit number, the same on every host: "classifier" in ASCII.
LOCK = 0x636C617373696669


class Command(BaseCommand):
    help = "Apply the database's migrations, one host at a time (a PostgreSQL advisory lock)."

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            return
        with connection.cursor() as cursor:
            self.stdout.write("waiting for the migration lock")
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK])
            try:
                call_command("migrate", interactive=False, verbosity=options["verbosity"])
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK])

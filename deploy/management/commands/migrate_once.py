"""`manage.py migrate_once`: the database's migrations, run by every web host at boot and applied by one.

Each host takes a PostgreSQL advisory lock first: the first to get it migrates, the others wait for it, then find
nothing left to do. On SQLite (one host) it is `migrate`. With OPERATOR_API_TOKEN set (a provisioned deployment's
secret), the `operator` user holds that API token afterwards: `manage.py loadtest --prefix` reads the same secret."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

OPERATOR = "operator"
# Any fixed 64-bit number, the same on every host: "classifier" in ASCII.
LOCK = 0x636C617373696669


class Command(BaseCommand):
    help = "Apply the database's migrations, one host at a time (a PostgreSQL advisory lock)."

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            self._operator_token()
            return
        with connection.cursor() as cursor:
            self.stdout.write("waiting for the migration lock")
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK])
            try:
                call_command("migrate", interactive=False, verbosity=options["verbosity"])
                self._operator_token()
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK])

    def _operator_token(self) -> None:
        token = settings.OPERATOR_API_TOKEN
        if not token:
            return
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        operator, made = User.objects.get_or_create(username=OPERATOR, defaults={"is_staff": False})
        if made:
            operator.set_unusable_password()  # an API user: no password, no admin
            operator.save()
        Token.objects.filter(user=operator).exclude(key=token).delete()
        Token.objects.get_or_create(user=operator, key=token)
        self.stdout.write(f"user {OPERATOR!r} holds the deployment's API token")

"""No secret is ever written down: real processes run with sentinel secrets, errors are provoked, and every byte they
wrote (log files, a command's stdout and stderr, HTTP answers) is searched for the sentinels.

The sentinels: the Django secret key, the AWS secret access key, and a database password (PostgreSQL with trust
authentication accepts and ignores it, so on the PostgreSQL run the whole stack carries it; SQLite has none, so
there it is carried by a web tier and commands whose database is unreachable).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from stack.local import LocalStack, web_argv
from stack.processes import ManagedProcess, free_port, wait_for_port
from tests.conftest import IMAGES_DIR, ROOT
from tests.integration.conftest import database_url, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DJANGO_KEY = f"sentinel-django-key-{secrets.token_hex(16)}"
AWS_SECRET = f"sentinel-aws-secret-{secrets.token_hex(16)}"
DB_PASSWORD = f"sentinel-db-password-{secrets.token_hex(16)}"
SENTINELS = (DJANGO_KEY, AWS_SECRET, DB_PASSWORD)
SECRET_ENV = {"DJANGO_SECRET_KEY": DJANGO_KEY, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}


def _unreachable_database() -> str:
    return f"postgres://classifier:{DB_PASSWORD}@127.0.0.1:{free_port()}/nowhere"


# What leaks is the question here, not how long a caller waits for a database that is down: a second, not the
# default ten (test_faults.py shows the default's 503s).
QUICK_GIVE_UP = {"DATABASE_POOL_TIMEOUT": "1", "DATABASE_RECONNECT_SECONDS": "1"}


def _own_database() -> str:
    from django.db import connection

    if connection.settings_dict["ENGINE"] == "django.db.backends.postgresql":
        return database_url({**connection.settings_dict, "PASSWORD": DB_PASSWORD})  # trust: accepted, ignored
    return database_url(connection.settings_dict)


@pytest.fixture(scope="module")
def secret_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    log_dir = tmp_path_factory.mktemp("secret-logs")
    running = start_stack(log_dir, workers=1, extra_env={**SECRET_ENV, "DATABASE_URL": _own_database()})
    yield running
    running.stop()


class Written(list[str]):
    """What processes said outside their log files: command output and HTTP answers, searched at the end."""

    def command(self, stack: LocalStack, *args: str, expect: str, **env: str) -> None:
        """Run a management command; `expect` "success" or "failure". Failure messages never show the sentinels."""
        environment = {**os.environ, **stack.child_env(), "DATABASE_URL": _own_database(), **env}
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        self += [done.stdout, done.stderr]
        outcome = "success" if done.returncode == 0 else "failure"
        assert outcome == expect, f"manage.py {' '.join(args)}: {outcome}\n{_redacted(done.stderr[-2000:])}"

    def upload(self, url: str, field: str, name: str, data: bytes) -> httpx.Response:
        response = httpx.post(url, files={field: (name, data, "image/jpeg")}, timeout=120)
        self += [response.text, str(response.headers)]
        return response

    def get(self, url: str) -> httpx.Response:
        response = httpx.get(url, timeout=30)
        self += [response.text, str(response.headers)]
        return response


def _redacted(text: str) -> str:
    for index, sentinel in enumerate(SENTINELS):
        text = text.replace(sentinel, f"<sentinel {index}>")
    return text


def _leaks(texts: list[str], files: list[Path]) -> list[str]:
    """Where a sentinel turns up (which sentinel, not its value: the report itself must not print it)."""
    found = []
    for where, text in [*((f"output #{n}", text) for n, text in enumerate(texts)),
                        *((str(path), path.read_text(errors="replace")) for path in files)]:  # fmt: skip
        found += [f"{where}: sentinel {i}" for i, sentinel in enumerate(SENTINELS) if sentinel in text]
    return found


def test_secrets_never_reach_a_log_or_an_answer(secret_stack) -> None:
    written = Written()
    base = secret_stack.web_url
    image = (IMAGES_DIR / "test_2.JPEG").read_bytes()
    # The happy path, and refusals, through every process of the stack.
    assert written.upload(base + "/", "myfile", "test_2.JPEG", image).text == "monarch butterfly"
    assert written.upload(base + "/", "myfile", "notes.jpg", b"just text").status_code == 415
    assert written.upload(base + "/api/classifications", "file", "cut.jpg", image[:900]).status_code == 400
    for path in ("/", "/admin/login/", "/no/such/page", "/api/classifications/not-a-uuid"):
        written.get(base + path)
    login = httpx.post(base + "/admin/login/", data={"username": "admin", "password": "wrong"}, timeout=30)
    written.append(login.text)  # refused by CSRF: an error page of its own

    # The database unreachable: a web tier of its own, configured with the password, answers 503 and logs why.
    port = free_port()
    env = {**secret_stack.child_env(), "DATABASE_URL": _unreachable_database(), **QUICK_GIVE_UP}
    web = ManagedProcess("web-db-down", web_argv(port), env, secret_stack.log_dir / "web-db-down.log",
                         settings.BASE_DIR).start()  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, timeout=60, process=web)
        down = f"http://127.0.0.1:{port}"
        assert written.upload(down + "/", "myfile", "test_2.JPEG", image).status_code == 503
        assert written.upload(down + "/api/classifications", "file", "test_2.JPEG", image).status_code == 503
    finally:
        web.stop()

    # Commands as an operator runs them, working and failing.
    written.command(secret_stack, "deadletters", "list", expect="success")
    written.command(secret_stack, "sweep", "--once", expect="success")
    written.command(secret_stack, "sweep", "--once", expect="failure", DATABASE_URL=_unreachable_database(),
                    **QUICK_GIVE_UP)  # fmt: skip
    nowhere = f"http://127.0.0.1:{free_port()}"
    written.command(secret_stack, "provision", expect="failure", AWS_ENDPOINT_URL=nowhere)
    written.command(secret_stack, "deadletters", "redrive", expect="failure", AWS_ENDPOINT_URL=nowhere)
    production = {"SERVICE_MODE": "production", "DJANGO_ALLOWED_HOSTS": "classifier.example.org",
                  "DATABASE_URL": _unreachable_database(), "STORAGE_BACKEND": "s3", "S3_INPUT_BUCKET": "in",
                  "S3_OUTPUT_BUCKET": "out", "AWS_ENDPOINT_URL": ""}  # fmt: skip
    written.command(secret_stack, "check", "--deploy", expect="success", **production)
    written.command(secret_stack, "check", expect="failure", **{**production, "DJANGO_ALLOWED_HOSTS": ""})

    secret_stack.stop()  # every process has flushed and closed its log
    logs = sorted(path for path in secret_stack.log_dir.rglob("*") if path.is_file())
    assert {path.name for path in logs} >= {"web.log", "worker-1.log", "results-consumer.log", "sweeper.log",
                                            "web-db-down.log", "aws-endpoint.log"}  # fmt: skip
    assert "database unavailable" in (secret_stack.log_dir / "web-db-down.log").read_text()  # the errors were logged
    assert _leaks(written, logs) == []

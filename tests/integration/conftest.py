"""A real local stack for the integration suite: moto server, celery workers, results consumer, uvicorn.

Nothing is faked. The processes share the test database that pytest-django creates (SQLite file or PostgreSQL),
and are stopped by their process ids when the session ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from stack.embedded import LOCAL_CREDENTIALS
from stack.local import LocalStack
from stack.processes import free_port

# The Makefile runs the integration suite twice: on SQLite, then on PostgreSQL. The second pass is for what the
# database engine changes (transactions, locking, outages of the database, concurrent writers); a test whose subject
# is the processes (kills, shutdowns, the fleet, the command line) or that brings its own database runs once.
ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def first_pass_only(why: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(ON_POSTGRESQL, reason=f"{why}: it ran in the first pass")


# It also runs the upload -> result tests (pipeline, faults, crash recovery) once more with FAST_PATHS=off: every
# library's stock path (fastpaths/). A test of what only a fast path does asserts it only where that one is on.


def database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def manage(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a management command as an operator on the stack's host would: its endpoint, the test database."""
    from django.db import connection

    from tests.conftest import ROOT

    env = {**os.environ, **stack.child_env(), "DATABASE_URL": database_url(connection.settings_dict)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def stored_inputs(stack: LocalStack) -> set[str]:
    """Every key in the inputs storage, read straight from the bucket or the folder (not from the rows)."""
    from django.conf import settings

    from common import aws

    if settings.STORAGE_BACKEND == "s3":
        s3 = aws.client("s3", stack.endpoint_url, stack.child_env())
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.S3_INPUT_BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}
    root = settings.VAR_DIR / "storage" / "inputs"
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def start_stack(log_dir: Path, **options) -> LocalStack:
    from django.db import connection

    extra_env = {"DATABASE_URL": database_url(connection.settings_dict), **options.pop("extra_env", {})}
    stack = LocalStack(web_port=free_port(), log_dir=log_dir, extra_env=extra_env, **options)
    try:
        stack.start()
    except BaseException:
        for log in sorted(log_dir.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    return stack


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    log_dir = tmp_path_factory.mktemp("stack-logs")
    # Notices at once: every request then also goes through record_started, the path slow requests take. A long
    # synchronous wait: 200 callers queue behind one worker on a shared machine.
    running = start_stack(
        log_dir, workers=1, worker_concurrency=1, extra_env={"STARTED_NOTICE_SECONDS": "0", "SYNC_WAIT_SECONDS": "170"}
    )
    # This process reads the stored objects too (through the same storages as the service).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", running.endpoint_url)
        for name, value in LOCAL_CREDENTIALS.items():
            patch.setenv(name, os.environ.get(name, value))
        yield running
    running.stop()
    print(f"stack logs: {log_dir}")


# --- A real browser: Debian's chromium driven by Playwright ------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (Debian chromium; make test installs it where apt can)"
)


@pytest.fixture(scope="module")
def browser(stack) -> Iterator[object]:  # the stack first: its processes must not inherit the setting below
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, so Django would take every ORM call of the test
    # (and pytest-django's flush) for async code. This process is not async (the loop only runs inside Playwright's
    # own calls): Django's documented escape hatch, for the browser's lifetime.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # playwright's own browser download is not reachable here; Debian's chromium is the browser under test.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack):
    """A fresh browser context on the stack; the test fails on a script error, a failed request, or a page, script,
    stylesheet or image answered 4xx/5xx (API calls are the page's business: it shows their errors)."""
    context = browser.new_context(base_url=stack.web_url)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} {request.failure}"))

    def check(response) -> None:
        if response.status >= 400 and response.request.resource_type not in ("xhr", "fetch"):
            problems.append(f"{response.status}: {response.url}")

    opened.on("response", check)
    yield opened
    found = list(problems)  # closing aborts whatever is still loading: that is the test's doing, not the page's
    context.close()
    assert found == [], found

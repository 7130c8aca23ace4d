"""Settings as a process sees them at start-up: each case runs Django in a fresh interpreter."""

import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = "import django; django.setup(); from django.conf import settings; print({})"


def _start(expression: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SERVICE_MODE", "DATABASE_URL", "AWS_ENDPOINT_URL", "STORAGE_BACKEND"))
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(expression)],
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_local_mode_is_safe_by_default() -> None:
    result = _start("(settings.DEBUG, settings.DATABASES['default']['ENGINE'], settings.STORAGE_BACKEND)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(False, 'django.db.backends.sqlite3', 'filesystem')"
    assert _start("settings.API_AUTH").stdout.strip() == "False"  # a laptop needs no token


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _start("settings.DEBUG", SERVICE_MODE="production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when SERVICE_MODE=production" in result.stderr


def test_production_needs_hosts_database_and_buckets() -> None:
    base = {"SERVICE_MODE": "production", "DJANGO_SECRET_KEY": "x" * 50}
    assert "DJANGO_ALLOWED_HOSTS must be set" in _start("settings.DEBUG", **base).stderr
    base["DJANGO_ALLOWED_HOSTS"] = "example.org"
    assert "DATABASE_URL must be set" in _start("settings.DEBUG", **base).stderr
    base["DATABASE_URL"] = "postgres://u@db.example.org/app"
    assert "S3_INPUT_BUCKET and S3_OUTPUT_BUCKET must be set" in _start("settings.DEBUG", **base).stderr
    base.update(S3_INPUT_BUCKET="in", S3_OUTPUT_BUCKET="out")
    result = _start("(settings.STORAGE_BACKEND, settings.SESSION_COOKIE_SECURE, settings.API_AUTH)", **base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('s3', True, True)"  # the API and POST / need a token in production
    # kombu's own transport has no visibility heartbeat: production then needs a timeout beyond the task's limit.
    stock = _start("settings.DEBUG", **base, FAST_PATHS="off")
    assert "SQS_VISIBILITY_TIMEOUT must exceed TASK_TIME_LIMIT" in stock.stderr
    assert _start("settings.DEBUG", **base, FAST_PATHS="off", SQS_VISIBILITY_TIMEOUT="120").returncode == 0


def test_visibility_timeout_may_be_shorter_than_the_task_but_not_shorter_than_a_heartbeat_allows() -> None:
    """The heartbeat extends held messages (fastpaths/kombu_sqs.py): a task may outlast the timeout; 5 s is too
    short."""
    assert _start("settings.SQS_VISIBILITY_TIMEOUT", SQS_VISIBILITY_TIMEOUT="30", TASK_TIME_LIMIT="90").stdout == "30\n"
    assert "SQS_VISIBILITY_TIMEOUT" in _start("settings.DEBUG", SQS_VISIBILITY_TIMEOUT="5").stderr


def test_idle_workers_outlive_the_visibility_timeout_by_default() -> None:
    """A dead worker's messages come back within the timeout, and an idle peer must still be there to take them."""
    shipped = _start("(settings.SQS_VISIBILITY_TIMEOUT, settings.WORKER_IDLE_SECONDS)")
    assert shipped.stdout == "(10, 40.0)\n", shipped.stderr
    assert _start("settings.WORKER_IDLE_SECONDS", SQS_VISIBILITY_TIMEOUT="60").stdout == "70.0\n"


def test_check_deploy_is_clean_in_production_mode() -> None:
    prefixes = ("DJANGO_", "SERVICE_MODE", "DATABASE_URL", "AWS_ENDPOINT_URL", "STORAGE_BACKEND")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env = {**clean, "SERVICE_MODE": "production", "DJANGO_SECRET_KEY": "k3y-" + "x9Q!" * 16,
           "DJANGO_ALLOWED_HOSTS": "classifier.example.org", "DATABASE_URL": "postgres://u@db.example.org/app",
           "S3_INPUT_BUCKET": "in", "S3_OUTPUT_BUCKET": "out"}  # fmt: skip
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_serves_the_collected_static_files(tmp_path) -> None:
    """Production reads no app folders (WHITENOISE_USE_FINDERS off): the pages work only from what collectstatic
    gathered, as the container image does at build time."""
    static_root = tmp_path / "static"
    collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                               cwd=ROOT, env={**os.environ, "STATIC_ROOT": str(static_root)},
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert (static_root / "classifier" / "upload.js").is_file()
    production = {"SERVICE_MODE": "production", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "testserver",
                  "DATABASE_URL": "postgres://u@db.example.org/app", "S3_INPUT_BUCKET": "in", "S3_OUTPUT_BUCKET": "out",
                  "STATIC_ROOT": str(static_root)}  # fmt: skip
    probe = (
        "[__import__('django.test').test.Client().get(path, secure=True).status_code for path in "
        "('/static/classifier/upload.js', '/static/classifier/site.css', '/static/classifier/nothing.js')]"
    )
    result = _start(probe, **production)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[200, 200, 404]"

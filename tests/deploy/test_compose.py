"""docker-compose.yml is checked by parsing: no Docker engine runs here."""

import json

import yaml
from django.conf import settings

from autoscale.worker_command import worker_argv
from stack.local import results_consumer_argv, web_argv
from tests.conftest import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_tier_is_a_service() -> None:
    services = _compose()["services"]
    assert {"db", "aws", "setup", "web", "results", "sweeper", "worker"} <= set(services)
    assert services["web"]["ports"] == ["8000:8000"]


def test_tiers_run_the_same_commands_as_everywhere_else_and_start_after_setup() -> None:
    """The worker's command line is built in one place (local processes, EC2 user data): the container's is the same."""
    services = _compose()["services"]
    assert services["worker"]["command"] == worker_argv("worker", queue=settings.CLASSIFY_QUEUE, python="python")
    assert services["results"]["command"] == results_consumer_argv(python="python")
    assert services["web"]["command"] == _web_command()
    assert services["worker"]["environment"]["CLASSIFIER_PRELOAD"] == "true"
    for name in ("web", "results", "sweeper", "worker"):
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert "manage.py provision" in " ".join(services["setup"]["command"])


def _web_command() -> list[str]:
    """The stack's web tier, taking connections from outside the container on the port it publishes."""
    argv = ["python", *web_argv(8000)[1:]]
    argv[argv.index("--host") + 1] = "0.0.0.0"
    return argv


def test_the_image_starts_the_web_tier_as_compose_and_the_web_host_do() -> None:
    """Its CMD is compose's web command; the web host's unit runs it on port 80 (tests/deploy/test_web_units.py)."""
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == _web_command()
    assert _compose()["services"]["web"]["ports"] == ["8000:8000"]


def test_all_tiers_share_one_configuration() -> None:
    services = _compose()["services"]
    for name in ("web", "results", "worker", "setup"):
        environment = services[name]["environment"]
        assert environment["AWS_ENDPOINT_URL"] == "http://aws:5000"
        assert environment["STORAGE_BACKEND"] == "s3"
        assert environment["DATABASE_URL"].startswith("postgres://")
    assert (ROOT / "Dockerfile").exists()


def test_the_web_tier_is_ready_by_readyz_and_shares_its_metrics_folder_with_the_results_consumer() -> None:
    services = _compose()["services"]
    assert "http://localhost:8000/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("web", "results", "sweeper"):
        assert services[name]["volumes"][0].startswith("metrics:/var/lib/classifier-metrics")
    assert services["web"]["environment"]["METRICS_DIR"] == "/var/lib/classifier-metrics"


def test_the_image_collects_its_static_files_at_build_time() -> None:
    """Production serves only collected files (WhiteNoise without finders): the image must carry them."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENV STATIC_ROOT=" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert "whitenoise.compress" in dockerfile  # collected in local mode: compressed copies made explicitly


def test_local_state_stays_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", ".env"} <= ignored

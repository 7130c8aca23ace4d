"""The web host's systemd units (deploy/web/), checked by parsing: the same commands as everywhere else, health
checks on /healthz, and one metrics folder for the web tier and the results consumer."""

from __future__ import annotations

import configparser
import shlex

from stack.local import results_consumer_argv, web_argv
from tests.conftest import ROOT

UNITS = ROOT / "deploy" / "web"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def command(parser: configparser.ConfigParser) -> list[str]:
    argv = shlex.split(parser["Service"]["ExecStart"].replace("%%", "%"))
    return ["python", *argv[1:]]  # the venv's python, wherever it is installed


def test_the_units_run_the_stack_s_commands() -> None:
    web = command(unit("classifier-web.service"))
    local = web_argv(8000)
    local[local.index("--host") + 1] = "0.0.0.0"  # the host takes connections from the load balancer
    assert web[1:] == local[1:]
    assert command(unit("classifier-results.service")) == results_consumer_argv(python="python")


def test_started_means_alive_and_a_dead_web_tier_is_restarted() -> None:
    web = unit("classifier-web.service")
    assert "http://127.0.0.1:8000/healthz" in web["Service"]["ExecStartPost"]
    assert web["Service"]["Restart"] == "on-failure"
    health = unit("classifier-web-health.service")["Service"]["ExecStart"]
    assert "/healthz" in health and "systemctl restart classifier-web.service" in health
    assert "/readyz" not in health  # an outage of a dependency never restarts the web tier
    assert unit("classifier-web-health.timer")["Timer"]["OnUnitActiveSec"] == "15"


def test_the_web_tier_and_the_results_consumer_share_a_metrics_folder_emptied_at_boot() -> None:
    folders = {
        unit(name)["Service"]["Environment"] for name in ("classifier-web.service", "classifier-results.service")
    }
    assert folders == {"METRICS_DIR=/run/classifier-metrics"}
    assert "d /run/classifier-metrics" in (UNITS / "classifier-metrics.conf").read_text()


def test_the_autoscaler_runs_with_the_hosts_environment_and_comes_back_after_a_failure() -> None:
    autoscaler = unit("classifier-autoscaler.service")["Service"]
    assert command(unit("classifier-autoscaler.service")) == ["python", "manage.py", "autoscale"]
    assert autoscaler["EnvironmentFile"] == unit("classifier-web.service")["Service"]["EnvironmentFile"]
    assert autoscaler["Restart"] == "on-failure"

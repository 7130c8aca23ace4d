"""The web host's systemd units (deploy/web/) and the worker's (deploy/worker/), checked by parsing: the same commands
as everywhere else, health checks on /healthz, one metrics folder for the web host's processes, the port the security
group opens, and nothing written where the service's user may not write."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from deploy.account.network import web_ingress
from stack.local import results_consumer_argv, web_argv
from tests.conftest import ROOT

UNITS = ROOT / "deploy" / "web"
SERVICES = sorted([*UNITS.glob("*.service"), *(ROOT / "deploy" / "worker").glob("*.service")])


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
    local = web_argv(80)
    local[local.index("--host") + 1] = "0.0.0.0"  # the host takes connections from the load balancer
    assert web[1:] == local[1:]
    assert command(unit("classifier-results.service")) == results_consumer_argv(python="python")


def test_started_means_alive_and_a_dead_web_tier_is_restarted() -> None:
    web = unit("classifier-web.service")
    assert "http://127.0.0.1:80/healthz" in web["Service"]["ExecStartPost"]
    assert web["Service"]["Restart"] == "on-failure"
    health = unit("classifier-web-health.service")["Service"]["ExecStart"]
    assert "/healthz" in health and "systemctl restart classifier-web.service" in health
    assert "/readyz" not in health  # an outage of a dependency never restarts the web tier
    assert unit("classifier-web-health.timer")["Timer"]["OnUnitActiveSec"] == "15"


def environment(service: configparser.SectionProxy) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(service.get("Environment", "")))


def test_the_web_host_s_processes_share_a_metrics_folder_emptied_at_boot() -> None:
    names = ("classifier-web", "classifier-results", "classifier-sweeper", "classifier-autoscaler")
    folders = {environment(unit(f"{name}.service")["Service"])["METRICS_DIR"] for name in names}
    assert folders == {"/run/classifier-metrics"}
    assert "d /run/classifier-metrics" in (UNITS / "classifier-metrics.conf").read_text()


def test_the_web_tier_listens_where_the_security_group_lets_clients_in() -> None:
    web = unit("classifier-web.service")["Service"]
    argv = command(unit("classifier-web.service"))
    port = int(argv[argv.index("--port") + 1])
    assert ("tcp", port, port) in {(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in web_ingress()}
    if port < 1024:  # a privileged port, bound by the unprivileged service user through this capability alone
        assert web["User"] != "root" and web["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"


def _writable(service: configparser.SectionProxy) -> list[Path]:
    """Where systemd lets the service's user write: its state and runtime directories, and the folders tmpfiles.d
    makes for that user."""
    folders = [Path("/var/lib", name) for name in service.get("StateDirectory", "").split()]
    folders += [Path("/run", name) for name in service.get("RuntimeDirectory", "").split()]
    for line in (UNITS / "classifier-metrics.conf").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "d" and fields[3] == service["User"]:
            folders.append(Path(fields[1]))
    return folders


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_a_service_writes_only_where_its_user_may(path: Path) -> None:
    """django.setup() opens metric files in METRICS_DIR (default VAR_DIR/metrics), and VAR_DIR defaults to the code's
    var/ (project/settings.py): under /opt/classifier, which bake.sh leaves to root. Every service running as the
    unprivileged user must point both at folders systemd makes writable for it."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    service = parser["Service"]
    if service.get("User", "root") == "root":
        return
    own = environment(service)
    var_dir = Path(own.get("VAR_DIR", f"{service['WorkingDirectory']}/var"))
    metrics = Path(own.get("METRICS_DIR", str(var_dir / "metrics")))
    writable = _writable(service)
    for folder in (var_dir, metrics):
        assert any(folder.is_relative_to(place) for place in writable), f"{path.name}: {folder} not in {writable}"
    if "WORKER_RETIRED_FILE" in own:
        assert any(Path(own["WORKER_RETIRED_FILE"]).is_relative_to(place) for place in writable)


def test_the_autoscaler_runs_with_the_hosts_environment_and_comes_back_after_a_failure() -> None:
    autoscaler = unit("classifier-autoscaler.service")["Service"]
    # Every web host runs one: one works, the others stand by for the fleet's lock.
    assert command(unit("classifier-autoscaler.service")) == ["python", "manage.py", "autoscale", "--standby"]
    assert autoscaler["EnvironmentFile"] == unit("classifier-web.service")["Service"]["EnvironmentFile"]
    assert autoscaler["Restart"] == "on-failure"


def test_a_web_host_reads_its_configuration_then_migrates_once_before_its_services_start() -> None:
    config = unit("classifier-config.service")["Service"]
    assert config["EnvironmentFile"] == "/etc/classifier/host.env" and "User" not in config  # root: it writes /run
    assert "-m deploy.host_config --out /run/classifier/web.env" in config["ExecStart"]
    migrate = unit("classifier-migrate.service")
    assert migrate["Service"]["Type"] == "oneshot" and "manage.py migrate_once" in migrate["Service"]["ExecStart"]
    assert migrate["Unit"]["Requires"] == "classifier-config.service"
    for name in ("classifier-web", "classifier-results", "classifier-sweeper", "classifier-autoscaler"):
        service = unit(f"{name}.service")
        assert service["Service"]["EnvironmentFile"] == "/run/classifier/web.env"
        assert service["Unit"]["Requires"] == "classifier-migrate.service"
        assert "classifier-migrate.service" in service["Unit"]["After"]
    user_data = (UNITS / "user-data.sh").read_text()
    started = user_data.split("systemctl enable --now ", 1)[1].split()
    assert started[:2] == ["classifier-config.service", "classifier-migrate.service"]
    assert {f"{name}.service" for name in ("classifier-web", "classifier-results", "classifier-sweeper",
                                            "classifier-autoscaler")} <= set(started)  # fmt: skip

"""Plays the EC2 instances a moto server reports, so that a test can watch the whole AWS loop on one machine.

moto's instances are records: `running` at once, their user data never runs. The player gives each running instance
of a fleet what a real one does when it boots from our image: it runs the instance's own user data (fetched back
from EC2, base64-decoded: whatever the launch template or the ec2 provider gave it) with /etc/classifier moved under
a folder of the instance's own and `systemctl` stood in for, reads the environment file that script wrote, and starts
the worker with the command, working directory and environment of the classifier-worker unit (the file bake.sh
installs). When that worker exits, it runs the unit's ExecStopPost as systemd would: after a retirement the worker
leaves its Auto Scaling group (autoscale/leave.py terminates the instance through moto) or powers off, and a power-off
ends the instance the way its shutdown behaviour says (terminate, or a stopped instance that is counted as a fault).

What stands in for what, and nothing else: the instance's folder for its disk (/etc/classifier, /var/lib/classifier),
this checkout and this Python for /opt/classifier and its virtual environment, the moto endpoint for the region's
endpoints, local credentials or (given a source of them) a session of the instance's role for the instance profile,
INSTANCE_ID for the metadata service, and the instance id for the host name (`%h`) Celery names the worker after.
The worker sees no other variable of this machine, as a unit sees none of the shell's.
"""

from __future__ import annotations

import base64
import configparser
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoscale.providers.ec2 import FLEET_TAG
from stack.processes import ManagedProcess, free_port, stop_together, wait_for_port

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WORKER_UNIT = ROOT / "deploy" / "worker" / "classifier-worker.service"
WEB_UNITS = ROOT / "deploy" / "web"
# What a web host's user data must ask systemd for, in this order (deploy/web/user-data.sh).
WEB_HOST_UNITS = ["classifier-config.service", "classifier-migrate.service", "classifier-web.service",
                  "classifier-results.service", "classifier-sweeper.service", "classifier-autoscaler.service",
                  "classifier-web-health.timer"]  # fmt: skip
APP = "/opt/classifier"
STATE = "/var/lib/classifier"
CONFIG = "/etc/classifier"
# What systemd gives every unit before its own settings; nothing of the shell that started the test.
SYSTEMD_BASE = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def read_unit(path: Path) -> configparser.SectionProxy:
    """The [Service] section of a systemd unit."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser["Service"]


def read_environment_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as systemd's EnvironmentFile= reads those the user data writes (no quoting: ec2_boot.py
    refuses values that would need it)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True)
class Image:
    """What stands in for /opt/classifier and its virtual environment's python: this checkout and this Python, or
    the root folder a played builder baked (manage.py bake)."""

    app: Path = ROOT
    python: str = sys.executable

    @classmethod
    def baked(cls, root: Path) -> Image:
        app = root / APP.lstrip("/")
        return cls(app, str(app / ".venv" / "bin" / "python"))

    def here(self, text: str) -> str:
        python = "\0python\0"  # kept apart from APP's replacement: the baked python's path contains APP
        return text.replace(f"{APP}/.venv/bin/python", python).replace(APP, str(self.app)).replace(python, self.python)


@dataclass
class PlayedInstance:
    instance_id: str
    folder: Path
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # as it booted (a group's tag goes when it leaves)
    worker: ManagedProcess | None = None
    host: PlayedWebHost | None = None  # a web host's services, instead of a worker
    exit_code: int | None = None
    ending: str = ""  # "left its group", "powered off", "crashed (exit N)", "stopped with its instance"

    def log_tail(self) -> str:
        log = self.folder / "worker.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(no worker log)"


class InstancePlayer:
    """Polls EC2 for the fleet's running instances and plays each one, on a thread of its own, until stop()."""

    def __init__(self, ec2: Any, fleet: str, folder: Path, here: dict[str, str], poll_seconds: float = 0.5,
                 credentials: Callable[[str], dict[str, str]] | None = None,
                 web_host_environment: Callable[[str], dict[str, str]] | None = None) -> None:  # fmt: skip
        self.ec2 = ec2
        self.fleet = fleet
        self.image = Image()  # what the instances boot from; a bake's root once the test has one
        self.builders: dict[str, Path] = {}  # builder instance -> the root folder it baked into
        self.web_fleet = f"{fleet}-web"  # the web hosts' instances (deploy/account/deployment.py)
        # A web host's stand-ins (the service endpoints, its role's credentials, its address), by instance id: given,
        # the player boots the web fleet's instances too.
        self.web_host_environment = web_host_environment
        self.folder = folder
        self.here = here  # the stand-ins: endpoint, credentials, short idle time
        # The instance profile's credentials for one instance, by its id (over `here`'s), as the metadata service
        # would hand them to that instance.
        self.credentials = credentials
        self.poll_seconds = poll_seconds
        self.unit = read_unit(WORKER_UNIT)
        self.played: dict[str, PlayedInstance] = {}
        self.errors: list[str] = []
        self.peak = 0  # the most instances running at once
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="instance-player", daemon=True)

    def start(self) -> InstancePlayer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the thread, then every worker and web host still running (by their pids), together."""
        self._stop.set()
        self._thread.join(timeout=60)
        with self._lock:
            processes = [p.worker for p in self.played.values() if p.worker and p.worker.exit_code() is None]
            for played in self.played.values():
                if played.host is not None:
                    processes += played.host.processes.values()
            stop_together(processes)

    def running(self, fleet: str = "") -> list[str]:
        """The fleet's instances EC2 reports running (or pending) now (the workers', unless another is named)."""
        filters = [{"Name": f"tag:{FLEET_TAG}", "Values": [fleet or self.fleet]},
                   {"Name": "instance-state-name", "Values": ["pending", "running"]}]  # fmt: skip
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def web_hosts(self) -> list[PlayedWebHost]:
        """The web hosts booted so far (their services started), in the order they booted."""
        with self._lock:
            return [p.host for p in self.played.values() if p.host is not None and not p.ending]

    def busy(self) -> bool:
        """Whether a worker instance is still being played: running, or its ending not done yet."""
        with self._lock:
            return any(not played.ending for played in self.played.values() if played.host is None and
                       played.tags.get(FLEET_TAG) != self.web_fleet)  # fmt: skip

    # --- the loop ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self._step()
            except Exception as exc:  # reported to the test, which fails with it; the loop goes on
                logger.exception("instance player")
                self.errors.append(f"player: {exc!r}")

    def _step(self) -> None:
        running = set(self.running())
        self.peak = max(self.peak, len(running))
        for instance_id in sorted(running - set(self.played)):
            self._boot(instance_id)
        for instance_id in self._builders():
            self._build(instance_id)
        if self.web_host_environment is not None:
            web = set(self.running(self.web_fleet))
            for instance_id in sorted(web - set(self.played)):
                self._boot_web_host(instance_id)
            running |= web
        with self._lock:
            playing = [p for p in self.played.values() if not p.ending]
        for played in playing:
            if played.host is not None:
                if played.instance_id not in running:  # replaced or deprovisioned: its services stop with it
                    played.host.stop_all()
                    played.ending = "stopped with its instance"
                continue
            if played.worker is not None and played.worker.exit_code() is not None:
                self._shut_down(played)
            elif played.instance_id not in running and played.worker is not None:
                # Ended from outside (the autoscaler ending a launch, deprovision): systemd stops the worker.
                played.worker.stop(timeout=30)
                played.exit_code, played.ending = played.worker.exit_code(), "stopped with its instance"

    # --- boot: the user data, then the unit ------------------------------------------------------------------------
    def _boot(self, instance_id: str) -> None:
        played = PlayedInstance(instance_id, self.folder / instance_id)
        with self._lock:
            self.played[instance_id] = played
        try:
            described = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            played.tags = {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
            played.environment = self._run_user_data(played)
            played.worker = self._start_worker(played)
        except Exception as exc:
            played.ending = f"did not boot: {exc}"
            self.errors.append(f"{instance_id} did not boot: {exc}")

    def _builders(self) -> list[str]:
        """`manage.py bake`'s builder instances of this deployment not played yet."""
        filters = [{"Name": "tag:classifier:role", "Values": ["builder"]},
                   {"Name": "tag:classifier:deployment", "Values": [self.fleet]},
                   {"Name": "instance-state-name", "Values": ["pending", "running"]}]  # fmt: skip
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
        found = [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return [instance for instance in found if instance not in self.played]

    def _build(self, instance_id: str) -> None:
        """A builder: its user data, with the real root moved to a folder of its own (bake.sh --root then installs
        no packages and makes no user), the machine's package registries for PyPI; then the power-off."""
        played = PlayedInstance(instance_id, self.folder / instance_id, tags={"classifier:role": "builder"})
        with self._lock:
            self.played[instance_id] = played
        root = played.folder / "root"
        root.mkdir(parents=True)
        answer = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        script = base64.b64decode(answer["UserData"]["Value"]).decode()
        assert "\nroot=/\n" in script, script
        (played.folder / "user-data.sh").write_text(script.replace("\nroot=/\n", f"\nroot={root}\n"))
        registries = {key: value for key, value in os.environ.items() if key.startswith("PIP_") or key == "HOME"}
        done = subprocess.run(["bash", str(played.folder / "user-data.sh")], capture_output=True, text=True,
                              timeout=1200, env={**SYSTEMD_BASE, **registries})  # fmt: skip
        (played.folder / "builder.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            self.errors.append(f"builder {instance_id}'s user data exited {done.returncode}: {done.stderr[-1500:]}")
        self.builders[instance_id] = root
        self.ec2.stop_instances(InstanceIds=[instance_id])  # its power-off: the shutdown behaviour is "stop"
        played.ending = "built and powered off"

    def _boot_web_host(self, instance_id: str) -> None:
        """A web host: its user data (which names where the configuration is, then starts the host's units), then
        those units in systemd's order, as tests/instance_player.PlayedWebHost plays them."""
        assert self.web_host_environment is not None
        played = PlayedInstance(instance_id, self.folder / instance_id)
        with self._lock:
            self.played[instance_id] = played
        try:
            played.tags = {"autoscale:fleet": self.web_fleet}
            played.environment = self._run_user_data(played, " ".join(["enable", "--now", *WEB_HOST_UNITS]),
                                                     "host.env")  # fmt: skip
            host = PlayedWebHost(instance_id, played.folder, played.environment, self.web_host_environment(instance_id),
                                 self.image)  # fmt: skip
            played.host = host
            host.boot()
        except Exception as exc:
            played.ending = f"did not boot: {exc}"
            self.errors.append(f"web host {instance_id} did not boot: {exc}")

    def _run_user_data(self, played: PlayedInstance, expected: str = "enable --now classifier-worker.service",
                       written: str = "worker.env") -> dict[str, str]:  # fmt: skip
        answer = self.ec2.describe_instance_attribute(InstanceId=played.instance_id, Attribute="userData")
        script = base64.b64decode(answer["UserData"]["Value"]).decode()
        stand_ins = played.folder / "bin"
        stand_ins.mkdir(parents=True)
        calls = played.folder / "systemctl-calls"
        (stand_ins / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
        (stand_ins / "systemctl").chmod(0o755)
        (played.folder / "user-data").write_text(script)  # as launched, for the test to compare
        (played.folder / "user-data.sh").write_text(script.replace(CONFIG, str(played.folder / CONFIG.lstrip("/"))))
        path = f"{stand_ins}:{SYSTEMD_BASE['PATH']}"
        done = subprocess.run(["bash", str(played.folder / "user-data.sh")], capture_output=True, text=True,
                              timeout=30, env={**SYSTEMD_BASE, "PATH": path})  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"its user data exited {done.returncode}: {done.stderr[-500:]}")
        asked = calls.read_text().splitlines() if calls.exists() else []
        if asked != [expected]:
            raise RuntimeError(f"its user data asked systemctl for {asked}, not for {expected!r}")
        return read_environment_file(played.folder / CONFIG.lstrip("/") / written)

    def _here(self, text: str, played: PlayedInstance) -> str:
        """A unit's path or command line with the image's and the instance's paths moved to where they are here."""
        text = self.image.here(text.replace("%%", "%"))
        return text.replace(STATE, str(played.folder / STATE.lstrip("/")))

    def _start_worker(self, played: PlayedInstance) -> ManagedProcess:
        unit = self.unit
        assert unit["EnvironmentFile"] == f"{CONFIG}/worker.env", unit["EnvironmentFile"]
        (played.folder / STATE.lstrip("/")).mkdir(parents=True)  # StateDirectory=, made by systemd
        subprocess.run(shlex.split(self._here(unit["ExecStartPre"], played)), check=True, timeout=10)
        unit_environment = dict(pair.split("=", 1) for pair in shlex.split(self._here(unit["Environment"], played)))
        # systemd: values from EnvironmentFile= override Environment=; then this machine's stand-ins.
        profile = self.credentials(played.instance_id) if self.credentials else {}
        env = {**SYSTEMD_BASE, **unit_environment, **played.environment, **self.here, **profile,
               "INSTANCE_ID": played.instance_id}  # fmt: skip
        argv = shlex.split(self._here(unit["ExecStart"], played))
        argv = [arg.replace("@%h", f"@{played.instance_id}") for arg in argv]  # the instance's host name
        workdir = Path(self._here(unit["WorkingDirectory"], played))
        worker = ManagedProcess(played.instance_id, argv, env, played.folder / "worker.log", cwd=workdir,
                                inherit_environment=False)  # fmt: skip
        return worker.start()

    # --- shutdown: the unit's ExecStopPost, then what a power-off does to the instance ---------------------------
    def _shut_down(self, played: PlayedInstance) -> None:
        assert played.worker is not None
        played.exit_code = played.worker.wait_or_kill(5)
        if played.exit_code != 0:  # Restart=on-failure would start it again: here that is a fault to report
            played.ending = f"crashed (exit {played.exit_code})"
            self.errors.append(f"{played.instance_id}'s worker exited {played.exit_code}:\n{played.log_tail()}")
            return
        calls = played.folder / "systemctl-calls"
        calls.write_text("")
        command = self._here(self.unit["ExecStopPost"].removeprefix("+"), played)  # "+": runs as root
        stand_ins = played.folder / "bin"
        env = {**played.worker.env, "PATH": f"{stand_ins}:{SYSTEMD_BASE['PATH']}"}
        done = subprocess.run(shlex.split(command), cwd=self.image.app, env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        (played.folder / "stop-post.log").write_text(done.stdout + done.stderr)
        if "--no-block poweroff" in calls.read_text():
            self._power_off(played.instance_id)
            played.ending = "powered off"
        elif (played.folder / STATE.lstrip("/") / "retired").exists():
            played.ending = "left its group"  # autoscale/leave.py succeeded: the group terminates the instance
        else:  # exit 0 without the mark: a plain stop, the instance stays up, yet nothing here asked for one
            played.ending = "stopped"
            self.errors.append(f"{played.instance_id}'s worker exited without retiring:\n{played.log_tail()}")

    def _power_off(self, instance_id: str) -> None:
        behaviour = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"]
        if behaviour == "terminate":
            self.ec2.terminate_instances(InstanceIds=[instance_id])
        else:  # a stopped instance still costs its volume: the test counts it as left behind
            self.ec2.stop_instances(InstanceIds=[instance_id])
            self.errors.append(f"{instance_id} powered off into {behaviour!r}, not terminate")


class PlayedWebHost:
    """A web host's services, each started from its unit as systemd would: its ExecStart, its Environment= under
    the env file's values, with /opt/classifier, its state directory and /run moved under the host's folder, in
    the units' order: the configuration (deploy/host_config.py) and the migrations run to completion first."""

    def __init__(self, instance_id: str, folder: Path, host_env: dict[str, str], here: dict[str, str],
                 image: Image | None = None) -> None:  # fmt: skip
        self.image = image or Image()
        self.instance_id = instance_id
        self.folder = folder
        self.host_env = host_env  # /etc/classifier/host.env, as the user data wrote it
        self.here = here  # the stand-ins: endpoints, the instance role's credentials, the host's address
        self.env_file: dict[str, str] = {}  # /run/classifier/web.env, once the configuration unit wrote it
        self.port = 0
        self.processes: dict[str, ManagedProcess] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _here(self, text: str) -> str:
        text = self.image.here(text.replace("%%", "%"))
        return text.replace("/var/lib/", f"{self.folder}/var/lib/").replace("/run/", f"{self.folder}/run/")

    def _unit(self, name: str) -> tuple[configparser.SectionProxy, dict[str, str]]:
        unit = read_unit(WEB_UNITS / name)
        own = dict(pair.split("=", 1) for pair in shlex.split(self._here(unit.get("Environment", ""))))
        for folder in [own.get("VAR_DIR", ""), own.get("METRICS_DIR", "")]:
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)  # StateDirectory=, tmpfiles.d
        return unit, own

    def run_once(self, name: str, timeout: float = 180) -> None:
        """A oneshot unit: its command to completion, or the boot fails with its output."""
        unit, own = self._unit(f"{name}.service")
        files = {"/etc/classifier/host.env": self.host_env, "/run/classifier/web.env": self.env_file}
        environment = {**SYSTEMD_BASE, **own, **files[unit["EnvironmentFile"]], **self.here}
        done = subprocess.run(shlex.split(self._here(unit["ExecStart"])), cwd=self._here(unit["WorkingDirectory"]),
                              env=environment, capture_output=True, text=True, timeout=timeout)  # fmt: skip
        (self.folder / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{name} exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}")

    def boot(self) -> None:
        self.run_once("classifier-config")
        self.env_file = read_environment_file(self.folder / "run" / "classifier" / "web.env")
        self.run_once("classifier-migrate")
        self.port = free_port()
        web = self.start("classifier-web", replace=("--port 80", f"--port {self.port}"))
        for name in ("classifier-results", "classifier-sweeper", "classifier-autoscaler"):
            self.start(name)
        wait_for_port("127.0.0.1", self.port, timeout=90, process=web)

    def start(self, name: str, *, replace: tuple[str, str] = ("", ""), **env: str) -> ManagedProcess:
        unit, own = self._unit(f"{name}.service")
        assert unit["EnvironmentFile"] == "/run/classifier/web.env" and unit["User"] == "classifier"
        command = self._here(unit["ExecStart"]).replace(*replace)
        environment = {**SYSTEMD_BASE, **own, **self.env_file, **self.here, **env}
        process = ManagedProcess(f"{self.instance_id}-{name}", shlex.split(command), environment,
                                 self.folder / f"{name}.log", cwd=Path(self._here(unit["WorkingDirectory"])),
                                 inherit_environment=False)  # fmt: skip
        self.processes[name] = process.start()
        return process

    def stop(self, name: str) -> None:
        self.processes.pop(name).stop(timeout=30)

    def stop_all(self) -> None:
        stop_together(list(self.processes.values()), timeout=30)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {self.instance_id} {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for log in sorted(self.folder.glob("*.log")))  # fmt: skip


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)

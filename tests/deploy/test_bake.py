"""deploy/worker/bake.sh installs into a root directory here, then the worker starts from what it installed exactly
as its unit would (the unit's command, working directory and environment, with /opt/classifier and the state
directory found under that root), takes a real task from the embedded endpoint, classifies a real image, and when
idle retires: it leaves the mark on which the unit powers the instance off, and exits 0. It runs as an unprivileged
user that owns only the state directory, as under the unit's User=."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

from autoscale.providers.ec2_boot import deployment_environment, render_user_data, worker_environment
from autoscale.worker_command import worker_argv
from stack.embedded import LOCAL_CREDENTIALS
from stack.processes import ManagedProcess
from tests.conftest import IMAGES_DIR, ROOT
from tests.instance_player import read_unit

UNIT = "etc/systemd/system/classifier-worker.service"
APP = "/opt/classifier"
STATE = "/var/lib/classifier"
UNPRIVILEGED = 65534  # nobody: like the unit's `classifier`, a user that owns nothing of the image


def as_the_service_user(baked: Path, state: Path) -> list[str]:
    """The prefix that runs the worker as the unit does: an unprivileged user, with the code root's and only the
    state directory its own (what StateDirectory= makes). Run as root, the worker could write anywhere and a path
    it may not write on a real host would go unnoticed. Run by anyone else, the test cannot switch users (and the
    files are then that user's own): the worker runs as it is, and only this check is lost."""
    if os.geteuid() != 0:
        return []
    baked.chmod(0o755)  # a temporary directory is its maker's alone; /opt is readable by all
    os.chown(state, UNPRIVILEGED, UNPRIVILEGED)
    return ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups", "--"]


def _written_environment(user_data: str) -> dict[str, str]:
    """The lines the user data writes into /etc/classifier/worker.env (its heredoc)."""
    body = re.search(r"<<'WORKER_ENVIRONMENT'\n(.*?)\nWORKER_ENVIRONMENT\n", user_data, re.S)
    assert body, user_data
    return dict(line.split("=", 1) for line in body[1].splitlines())


def test_the_unit_runs_the_one_worker_command_and_powers_off_only_after_retiring() -> None:
    service = read_unit(ROOT / "deploy" / "worker" / "classifier-worker.service")
    assert shlex.split(service["ExecStart"].replace("%%", "%")) == worker_argv(
        "worker", queue="classify", python=f"{APP}/.venv/bin/python"
    )
    assert service["Restart"] == "on-failure" and int(service["TimeoutStopSec"]) > 90  # longer than a task's limit
    assert "WORKER_RETIRED_FILE=/var/lib/classifier/retired" in service["Environment"]
    # /opt/classifier is root's: VAR_DIR (django.setup() writes its metric files there) is the state directory.
    assert "VAR_DIR=/var/lib/classifier" in service["Environment"] and service["StateDirectory"] == "classifier"
    assert service["ExecStopPost"].startswith("+") and "[ -e /var/lib/classifier/retired ]" in service["ExecStopPost"]
    assert f"{APP}/.venv/bin/python -m autoscale.leave || systemctl --no-block poweroff" in service["ExecStopPost"]


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **{
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})  # fmt: skip


def test_the_baked_worker_starts_as_its_unit_would_classifies_and_retires(baked: Path, endpoint: str,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    app = baked / APP.lstrip("/")
    assert (app / ".venv" / "bin" / "python").exists() and not (app / ".git").exists()
    assert list((app / ".venv" / "share" / "classifier-models").glob("*.onnx")), "the model is in the image"
    service = read_unit(baked / UNIT)

    prefix = f"bake{uuid.uuid4().hex[:6]}-"
    deployment = deployment_environment(region="us-east-1", input_bucket=f"{prefix}inputs",
                                        output_bucket=f"{prefix}outputs", queue_prefix=prefix,
                                        visibility_timeout=30, wait_time_seconds=2, max_receive_count=5)  # fmt: skip
    written = _written_environment(render_user_data(worker_environment(deployment, retires=True)))
    s3, sqs = _client(endpoint, "s3"), _client(endpoint, "sqs")
    for bucket in (f"{prefix}inputs", f"{prefix}outputs"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=f"{prefix}inputs", Key="uploads/test_10.JPEG", Body=(IMAGES_DIR / "test_10.JPEG").read_bytes())
    results = sqs.create_queue(QueueName=f"{prefix}results")["QueueUrl"]
    sqs.create_queue(QueueName=f"{prefix}classify")

    state = baked / "var" / "lib" / "classifier"  # the unit's state directory (VAR_DIR), under the root
    state.mkdir(parents=True)
    unit_environment = dict(pair.split("=", 1) for pair in shlex.split(service["Environment"]))
    unit_environment = {key: value.replace(STATE, str(state)) for key, value in unit_environment.items()}
    # Here, not in AWS: the moto endpoint, and a short idle time (the default 40 s is the autoscaling tests').
    here = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "WORKER_IDLE_SECONDS": "5"}
    env = {**os.environ, **written, **unit_environment, **here}
    argv = shlex.split(service["ExecStart"].replace("%%", "%").replace(APP, str(app)))
    assert argv[0] == str(app / ".venv" / "bin" / "python")  # the baked environment's python, not the test's
    workdir = Path(service["WorkingDirectory"].replace(APP, str(app)))
    worker = ManagedProcess("baked-worker", [*as_the_service_user(baked, state), *argv], env, tmp_path / "worker.log",
                            cwd=workdir)  # fmt: skip
    try:
        worker.start()
        task = ["bake-1", "uploads/test_10.JPEG", "test_10.JPEG"]
        send = f"from classifier.tasks import classify; classify.apply_async(args={task!r}, task_id='bake-1')"
        # The sender stands for the web host: a VAR_DIR of its own, not the instance's state directory.
        sender = {**env, "VAR_DIR": str(tmp_path / "sender")}
        subprocess.run([argv[0], "manage.py", "shell", "-c", send], cwd=workdir, env=sender, check=True, timeout=120,
                       capture_output=True)  # fmt: skip
        reported = []
        deadline = time.monotonic() + 120
        while not reported and time.monotonic() < deadline and worker.exit_code() is None:
            reported = sqs.receive_message(QueueUrl=results, WaitTimeSeconds=2).get("Messages", [])
        log = (tmp_path / "worker.log").read_text()
        assert reported, log[-3000:]
        assert "classified bake-1 (test_10.JPEG) as guacamole" in log, log[-3000:]
        deadline = time.monotonic() + 60
        while worker.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker.exit_code() == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert (state / "retired").exists(), "the unit would not power the instance off"
    finally:
        worker.stop()

    # What the unit runs next, as it would (systemctl stood in for): outside any group, the instance powers off.
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "systemctl").write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "systemctl-called"}\n')
    (stand_in / "systemctl").chmod(0o755)
    after = shlex.split(service["ExecStopPost"].lstrip("+").replace(APP, str(app)))
    after[-1] = after[-1].replace(STATE, str(state))
    subprocess.run(after, cwd=workdir, env={**env, "PATH": f"{stand_in}:{os.environ['PATH']}"}, check=True,
                   timeout=60, capture_output=True)  # fmt: skip
    assert (tmp_path / "systemctl-called").read_text().split() == ["--no-block", "poweroff"]

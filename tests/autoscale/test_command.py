"""`manage.py autoscale` as an operator runs it: real SQS calls against moto's server, a subprocess per run."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from common import aws
from deploy.provision import QueuePlan, ensure_queues
from stack.embedded import LOCAL_CREDENTIALS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def endpoint(endpoint: str) -> str:
    """The shared module endpoint, with the queues the autoscaler watches."""
    ensure_queues(aws.client("sqs", endpoint, LOCAL_CREDENTIALS), QueuePlan.from_settings())
    return endpoint


def migrated_env(endpoint: str, tmp_path) -> dict[str, str]:
    env = {**os.environ, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}  # fmt: skip
    if not (tmp_path / "db.sqlite3").exists():
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return env


def autoscale(endpoint: str, tmp_path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = migrated_env(endpoint, tmp_path)
    return subprocess.run(
        [sys.executable, "manage.py", "autoscale", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_dry_run_once_prints_the_decision_and_changes_nothing(endpoint, tmp_path) -> None:
    sqs = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    url = sqs.get_queue_url(QueueName="classify")["QueueUrl"]
    for _ in range(12):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    try:
        result = autoscale(endpoint, tmp_path, "--provider", "local", "--once", "--dry-run", "--max", "5")
    finally:
        sqs.purge_queue(QueueUrl=url)
    assert result.returncode == 0, result.stderr
    assert "visible=12 in_flight=0 running=0 pending=0 desired=2 action=launch instances=- (dry run)" in result.stdout
    assert not list((tmp_path / "autoscale").glob("local-*.json"))  # nothing launched


def test_a_second_autoscaler_on_the_same_fleet_refuses_to_start(endpoint, tmp_path) -> None:
    first = subprocess.Popen(
        [sys.executable, "manage.py", "autoscale", "--provider", "local", "--interval", "1"], cwd=ROOT,
        env=migrated_env(endpoint, tmp_path), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        assert "autoscaling local workers" in first.stdout.readline()  # printed once it holds the lock
        second = autoscale(endpoint, tmp_path, "--provider", "local", "--once")
        assert second.returncode != 0
        assert "another autoscaler holds the lock" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()
        assert first.wait(timeout=30) == 0  # SIGTERM stops it between ticks, cleanly


def test_on_standby_a_second_autoscaler_waits_and_takes_over_when_the_first_stops(endpoint, tmp_path) -> None:
    """As every web host runs one: the first works, the second waits quietly, then takes the fleet over."""
    env = migrated_env(endpoint, tmp_path)
    argv = [sys.executable, "manage.py", "autoscale", "--provider", "local", "--interval", "1", "--standby"]
    first = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None
    second = None
    try:
        assert "autoscaling local workers" in first.stdout.readline()  # it holds the lock
        second = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert second.stdout is not None
        assert "standing by: another autoscaler holds the lock" in second.stdout.readline()
        first.terminate()
        assert first.wait(timeout=30) == 0
        assert "took over the fleet" in second.stdout.readline()
        assert "autoscaling local workers" in second.stdout.readline()
    finally:
        for process in (first, second):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    assert second.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "5", "--max", "2"], "need 0 <= min <= max"),
        (["--provider", "ec2", "--once"], "needs EC2_LAUNCH_TEMPLATE or EC2_AMI_ID"),
        (["--simulate", "tsunami"], "unknown trace"),
        (["--policy", "latency", "--target-wait", "-5", "--once"], "target wait must be positive"),
        (["--simulate", "burst100", "--service-time", "0"], "--service-time must be positive"),
    ],
)
def test_bad_arguments_get_a_clear_error_without_a_traceback(endpoint, tmp_path, args, message) -> None:
    result = autoscale(endpoint, tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_simulation_prints_every_policy_against_the_hindsight_fleet_and_writes_the_chart(endpoint, tmp_path) -> None:
    chart = tmp_path / "sim.png"
    result = autoscale(endpoint, tmp_path, "--simulate", "burst100", "--provider", "ec2", "--service-time", "1",
                       "--chart", str(chart))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "boot 60 s" in result.stdout
    assert "   step: served 100" in result.stdout and " target: served 100" in result.stdout
    latency = next(line for line in result.stdout.splitlines() if line.startswith("latency: served 100"))
    assert "peak workers 4" in latency and "1.00 x the cheapest fixed fleet reaching that p95 (fixed-4, 500)" in latency
    assert chart.exists()


def test_a_nonsensical_setting_is_a_one_line_error(endpoint, tmp_path) -> None:
    env = {**migrated_env(endpoint, tmp_path), "AUTOSCALE_TARGET_WAIT": "-1"}
    result = subprocess.run([sys.executable, "manage.py", "autoscale", "--once"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip() == "configuration error: AUTOSCALE_TARGET_WAIT must be at least 0.1, got -1.0"


def test_the_latency_policy_ticks_live_and_writes_its_belief(endpoint, tmp_path) -> None:
    result = autoscale(endpoint, tmp_path, "--provider", "local", "--policy", "latency", "--once")
    assert result.returncode == 0, result.stderr
    assert "with the latency policy" in result.stdout
    assert "desired=0 action=hold" in result.stdout and "(nothing queued)" in result.stdout
    env = migrated_env(endpoint, tmp_path)
    probe = ("from autoscale.models import FleetSample; s = FleetSample.objects.get(); "
             "print(s.policy, s.service_seconds, s.boot_seconds, s.reason)")  # fmt: skip
    shown = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", probe], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert shown.stdout.split() == ["latency", "0.1", "5.0", "nothing", "queued"]


def test_on_postgresql_the_lock_is_an_advisory_lock(endpoint, tmp_path, postgres_database) -> None:
    env = {**os.environ, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(tmp_path),
           "DATABASE_URL": postgres_database}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    command = [sys.executable, "manage.py", "autoscale", "--provider", "local", "--interval", "1"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        assert "autoscaling local workers" in first.stdout.readline()
        # Another VAR_DIR: no shared lock file, so only the database can be what stops the second one.
        second = subprocess.run([*command, "--once"], cwd=ROOT, env={**env, "VAR_DIR": str(tmp_path / "other")},
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode != 0
        assert "another autoscaler holds the lock" in second.stderr

        # The session holding the lock ends (a database restart, a network cut): the next tick takes it again.
        import psycopg

        name = postgres_database.rsplit("/", 1)[1]
        holders = (
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = %s)"
        )
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            ended = admin.execute(holders, [name]).fetchall()
        assert ended == [(True,)]
        time.sleep(3)  # a few ticks
        again = subprocess.run([*command, "--once"], cwd=ROOT, env={**env, "VAR_DIR": str(tmp_path / "other")},
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert again.returncode != 0 and "another autoscaler holds the lock" in again.stderr
        assert first.poll() is None
    finally:
        first.terminate()
        assert first.wait(timeout=30) == 0


def test_from_zero_the_first_message_is_seen_within_the_idle_interval_not_the_tick(endpoint, tmp_path) -> None:
    """The shipped AUTOSCALE_IDLE_INTERVAL (1 s) against a 30 s tick: a dry run, so nothing launches and the fleet
    stays at zero."""
    env = {**migrated_env(endpoint, tmp_path), "PYTHONUNBUFFERED": "1"}
    sqs = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    url = sqs.get_queue_url(QueueName="classify")["QueueUrl"]
    command = [sys.executable, "manage.py", "autoscale", "--provider", "local", "--dry-run", "--interval", "30"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not any("action=hold" in line for line in lines):  # its first tick: nothing queued
            lines.append(process.stdout.readline())
            assert lines[-1], "".join(lines)
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        sent = time.monotonic()
        while "visible=1" not in lines[-1]:
            lines.append(process.stdout.readline())
            assert lines[-1] and time.monotonic() - sent < 10, "".join(lines)
        seen_after = time.monotonic() - sent
    finally:
        process.terminate()
        process.wait(timeout=30)
        # Taken back out by hand: SQS allows one purge a minute, and the first test of this module made it.
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "desired=1 action=launch" in lines[-1]
    assert seen_after < 3, f"the message waited {seen_after:.1f} s for a tick:\n{''.join(lines)}"


def test_simulation_prices_every_policy_on_every_capacity_mix_as_json(tmp_path) -> None:
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("autoscale", "--simulate", "burst100", "--provider", "ec2", "--service-time", "1", "--json",
                 "--warm-pool", "2", "--spot-price", "0.02", "--chart", str(tmp_path / "sim.png"),
                 stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    assert printed["prices_per_hour"] == {"on_demand": 0.0416, "spot": 0.02, "volume": pytest.approx(8 * 0.08 / 730)}
    assert (printed["boot_s"], printed["warm_boot_s"], printed["interruptions_per_instance_hour"]) == (60, 10, 0.05)
    runs = {(run["policy"], run["capacity"]): run for run in printed["results"]}
    assert set(runs) == {(policy, capacity) for policy in ("step", "target", "latency")
                         for capacity in ("on-demand", "spot", "spot+warm-pool-2")}  # fmt: skip
    step, latency = runs["step", "on-demand"], runs["latency", "spot+warm-pool-2"]
    assert {"instance_seconds", "dollars", "p95_wait_s", "interruptions"} <= set(step)
    assert step["instance_seconds"] == 2000
    assert step["dollars"] == pytest.approx(2000 * (0.0416 + 8 * 0.08 / 730) / 3600, abs=1e-8)
    assert latency["warm_starts"] == 2 and latency["p95_wait_s"] < step["p95_wait_s"]
    assert (tmp_path / "sim.png").exists()


def test_simulation_refuses_a_negative_warm_pool(tmp_path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("autoscale", "--simulate", "burst100", "--warm-pool", "-1", "--chart", str(tmp_path / "c.png"))

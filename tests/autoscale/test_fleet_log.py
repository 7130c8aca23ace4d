"""The autoscaler's per-tick FleetSample: written from each decision, pruned now and then, skipped on a dry run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError

from autoscale.controller import Controller, Decision
from autoscale.fleet_log import FleetLog
from autoscale.management.commands.autoscale import Command
from autoscale.models import FleetSample
from autoscale.policy import Observation, StepPolicy
from autoscale.providers.fake import FakeProvider

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC).timestamp()


def decision(at: float, visible: int = 12, desired: int = 3) -> Decision:
    return Decision(at, Observation(visible, 2, 1, 1), desired, "launch", ["i-1"])


def old_sample(at: datetime) -> FleetSample:
    return FleetSample.objects.create(time=at, provider="local", visible=0, in_flight=0, running=0, pending=0,
                                      desired=0)  # fmt: skip


def test_a_sample_holds_the_observation_and_the_decision_time() -> None:
    sample = FleetLog("ec2").record(decision(T0))
    assert sample is not None
    stored = FleetSample.objects.get()
    assert (stored.time, stored.provider) == (datetime.fromtimestamp(T0, UTC), "ec2")
    assert (stored.visible, stored.in_flight, stored.running, stored.pending, stored.desired) == (12, 2, 1, 1, 3)


def test_samples_past_retention_are_pruned_on_the_first_tick_then_every_prune_interval() -> None:
    now = datetime.fromtimestamp(T0, UTC)
    old_sample(now - timedelta(hours=25))
    log = FleetLog("local", retention=timedelta(hours=24), prune_every=timedelta(minutes=10))
    log.record(decision(T0))
    assert FleetSample.objects.count() == 1  # the day-old one went at once

    old_sample(now - timedelta(hours=30))
    log.record(decision(T0 + 60))  # a minute later: not yet
    assert FleetSample.objects.count() == 3
    log.record(decision(T0 + 600))  # ten minutes later: pruned again
    assert FleetSample.objects.count() == 3 and not FleetSample.objects.filter(time__lt=now).exists()


@pytest.mark.django_db(transaction=True)  # the broken connection is closed: no test transaction around it
def test_a_database_outage_skips_samples_is_logged_once_and_its_end_too(monkeypatch, caplog) -> None:
    create = FleetSample.objects.create

    def refuse(**fields):
        raise OperationalError("database is locked")

    log = FleetLog("local")
    monkeypatch.setattr(FleetSample.objects, "create", refuse)
    with caplog.at_level("WARNING"):
        assert [log.record(decision(T0 + n)) for n in range(3)] == [None, None, None]
        monkeypatch.setattr(FleetSample.objects, "create", create)
        assert log.record(decision(T0 + 3)) is not None
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert "fleet sample failed: database unreachable (database is locked)" in lines[0]
    assert "fleet sample recovered after" in lines[1] and "(3 failed tries)" in lines[1]


def run_once(dry_run: bool) -> None:
    clock = lambda: T0  # noqa: E731
    controller = Controller(StepPolicy(0, 3), FakeProvider(clock), lambda: (4, 0), clock, dry_run=dry_run)
    command = Command()
    command.attach(controller, {"provider": "local", "policy": "step", "dry_run": dry_run})
    assert command.tick().desired == 1


def test_every_live_tick_writes_a_sample_and_a_dry_run_writes_none() -> None:
    run_once(dry_run=True)
    assert not FleetSample.objects.exists()
    run_once(dry_run=False)
    assert FleetSample.objects.get().visible == 4

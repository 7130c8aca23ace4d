"""A wedged pool is noticed: a due request never started while a pool process is idle, for STRANDED_AFTER."""

from __future__ import annotations

from types import SimpleNamespace

from celery.worker import state as worker_state

from classifier.worker import stranded


class Request(SimpleNamespace):
    def reject(self, requeue: bool = False) -> None:
        self.rejected = requeue


def _request(rid: str, **fields) -> Request:
    return Request(**{"id": rid, "eta": None, "time_start": None, "acknowledged": False, "rejected": None, **fields})


def test_a_request_the_pool_never_starts_is_handed_back_and_the_worker_exits(monkeypatch) -> None:
    exits: list[bool] = []
    step = stranded.HandBackStranded(None)
    monkeypatch.setattr(step, "exit", lambda: exits.append(True))
    lost, running = _request("lost"), _request("running", time_start=1.0)
    monkeypatch.setattr(worker_state, "reserved_requests", [lost, running])
    monkeypatch.setattr(worker_state, "active_requests", [running])
    monkeypatch.setattr(worker_state, "task_ready", lambda request: None)
    assert step.look(processes=2, now=100.0) == []  # first seen: it may just be on its way to the pool
    assert step.look(processes=2, now=100.0 + stranded.STRANDED_AFTER - 1) == []
    assert step.look(processes=2, now=100.0 + stranded.STRANDED_AFTER) == ["lost", "running"]
    assert (lost.rejected, running.rejected) == (True, None)  # a started task is left to finish
    assert exits == [True]


def test_a_request_waiting_for_a_busy_pool_or_its_eta_is_left_alone(monkeypatch) -> None:
    step = stranded.HandBackStranded(None)
    monkeypatch.setattr(step, "exit", lambda: None)
    waiting, scheduled, busy = _request("waiting"), _request("scheduled", eta="later"), _request("busy", time_start=1.0)
    monkeypatch.setattr(worker_state, "reserved_requests", [waiting, scheduled, busy])
    monkeypatch.setattr(worker_state, "active_requests", [busy])
    for now in (0.0, 1000.0):
        assert step.look(processes=1, now=now) == []  # the one pool process is busy: waiting is fine
    assert step.look(processes=2, now=2000.0) == []  # an idle process now: the grace starts over

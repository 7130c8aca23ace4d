"""Results that arrive while the database is away are tried again later, not dropped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import OperationalError

from classifier import tasks
from common.outages import OutageLog


class Retried(Exception):
    pass


@pytest.fixture(autouse=True)
def _fresh_outage_log(monkeypatch) -> None:
    monkeypatch.setattr(tasks, "_recording", OutageLog(tasks.logger, "recording results"))


def _task(retries: int) -> SimpleNamespace:
    calls: list[dict] = []

    def retry(**kwargs):
        calls.append(kwargs)
        return Retried()

    return SimpleNamespace(name="classifier.record_result", request=SimpleNamespace(retries=retries), retry=retry,
                           calls=calls)  # fmt: skip


def _refuse(*args):
    raise OperationalError("connection refused")


def test_a_database_outage_retries_the_recording_with_a_capped_backoff_for_as_long_as_it_lasts() -> None:
    task = _task(retries=40)
    with pytest.raises(Retried):
        tasks._record(task, _refuse, "request-id")
    (call,) = task.calls
    assert call["max_retries"] is None
    assert 0 <= call["countdown"] <= tasks.RECORD_RETRY_CAP


def test_anything_else_is_not_retried_here() -> None:
    def broken(*args):
        raise OperationalError("no such table: classifier_classification")  # a missed migration, not an outage

    task = _task(retries=0)
    with pytest.raises(OperationalError):
        tasks._record(task, broken, "request-id")
    assert task.calls == []


def test_the_outage_is_logged_once_and_its_end(caplog) -> None:
    with caplog.at_level("WARNING"):
        for _ in range(3):
            with pytest.raises(Retried):
                tasks._record(_task(retries=0), _refuse, "request-id")
        tasks._record(_task(retries=0), lambda *args: None, "request-id")
    lines = [record.getMessage() for record in caplog.records if record.name == "classifier.tasks"]
    assert len(lines) == 2 and "recording results failed: database unreachable" in lines[0]
    assert "recording results recovered" in lines[1]

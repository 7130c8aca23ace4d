"""A request past its time to live: the worker does not classify it, and the results consumer records it expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classifier import tasks
from classifier.contract import Kind
from classifier.models import Status
from classifier.results import recording
from classifier.worker import outbox as outbox_module
from tests.factories import make_request


def test_an_expired_request_is_reported_not_classified(monkeypatch) -> None:
    reported, classified = [], []
    monkeypatch.setattr(outbox_module, "send_now", lambda kind, *args: reported.append((kind, args)))
    monkeypatch.setattr(tasks, "classify_stored_image", lambda *args: classified.append(args))
    past = (datetime.now(UTC) - timedelta(seconds=3)).isoformat()
    tasks.classify.run("req-1", "k/a.JPEG", "a.JPEG", past)
    assert classified == []
    [(name, (request_id, reason, _worker, _at))] = reported
    assert (name, request_id) == (Kind.EXPIRED, "req-1")
    assert reason.startswith("expired: its time to live ended 3.") and reason.endswith("not classified")


def test_a_request_within_its_time_to_live_is_classified(monkeypatch) -> None:
    reported, classified = [], []
    monkeypatch.setattr(outbox_module, "send_now", lambda kind, *args: reported.append(kind))
    monkeypatch.setattr(tasks, "classify_stored_image", lambda *args: classified.append(args) or {"label": "x"})
    tasks.classify.run("req-2", "k/a.JPEG", "a.JPEG", (datetime.now(UTC) + timedelta(seconds=30)).isoformat())
    tasks.classify.run("req-3", "k/a.JPEG", "a.JPEG")  # no time to live at all
    assert len(classified) == 2 and reported == [Kind.RESULT] * 2


@pytest.mark.django_db
def test_expired_is_recorded_once_and_never_over_a_result() -> None:
    row = make_request()
    at = datetime.now(UTC).isoformat()
    assert recording.record_expired(str(row.pk), "expired: ...", "w@h", at) is True
    assert recording.record_expired(str(row.pk), "expired: ...", "w@h", at) is False
    row.refresh_from_db()
    assert (row.status, row.error, row.label) == (Status.EXPIRED, "expired: ...", "")
    done = make_request(status=Status.DONE, label="tabby cat")
    assert recording.record_expired(str(done.pk), "expired: ...", "w@h", at) is False

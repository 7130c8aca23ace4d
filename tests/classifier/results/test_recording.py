import uuid

import pytest

from classifier.models import Classification, Status
from classifier.results import recording
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db


def test_first_result_wins_and_duplicates_are_counted() -> None:
    row = make_request()
    assert recording.record_result(str(row.pk), result_payload()) is True
    assert recording.record_result(str(row.pk), result_payload("tabby cat", "worker-2@host")) is False
    row.refresh_from_db()
    assert row.status == Status.DONE
    assert row.label == "monarch butterfly"
    assert row.worker == "worker-1@host"
    assert row.result_deliveries == 2
    assert row.recorded_at is not None
    assert row.started_at.isoformat() == "2026-11-27T10:00:00+00:00"


def test_started_moves_queued_to_running_only() -> None:
    row = make_request()
    assert recording.record_started(str(row.pk), "w@h", "2026-11-27T10:00:00+00:00") is True
    assert recording.record_started(str(row.pk), "w2@h", "2026-11-27T10:00:05+00:00") is False
    recording.record_result(str(row.pk), result_payload())
    # A start notice that arrives after the result (the results queue is not ordered) changes nothing.
    assert recording.record_started(str(row.pk), "w3@h", "2026-11-27T10:00:09+00:00") is False
    row.refresh_from_db()
    assert (row.status, row.worker) == (Status.DONE, "worker-1@host")


def test_failure_is_final_and_a_late_result_does_not_override_it() -> None:
    row = make_request()
    assert recording.record_failure(str(row.pk), "unreadable image: truncated", "w@h", "2026-11-27T10:00:00+00:00")
    assert recording.record_result(str(row.pk), result_payload()) is False
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.error == "unreadable image: truncated"
    assert row.label == ""


def test_result_for_an_unknown_request_is_dropped() -> None:
    assert recording.record_result(str(uuid.uuid4()), result_payload()) is False
    assert not Classification.objects.exists()

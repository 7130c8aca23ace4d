"""A request's status changes, owned by its QuerySet: which moves are allowed, and that each says whether it won."""

from __future__ import annotations

import pytest
from django.utils import timezone

from classifier.models import MAX_ERROR_LENGTH, Classification, Status
from tests.factories import make_request

pytestmark = pytest.mark.django_db


def _one(row: Classification):
    return Classification.objects.filter(pk=row.pk)


def test_start_moves_only_a_queued_request() -> None:
    queued, done = make_request(), make_request(status=Status.DONE)
    now = timezone.now()
    assert _one(queued).start("w@h", now) == 1
    assert _one(queued).start("w2@h", now) == 0  # already running: a second notice changes nothing
    assert _one(done).start("w@h", now) == 0


def test_complete_and_fail_end_only_pending_requests_and_the_first_wins() -> None:
    row = make_request(status=Status.RUNNING)
    now = timezone.now()
    assert _one(row).complete(now, label="tabby") == 1
    assert _one(row).fail("too late", now) == 0
    assert _one(row).complete(now, label="other") == 0
    row.refresh_from_db()
    assert (row.status, row.label, row.error) == (Status.DONE, "tabby", "")


def test_a_failure_keeps_its_reason_within_bounds() -> None:
    row = make_request()
    assert _one(row).fail("x" * (MAX_ERROR_LENGTH + 50), timezone.now(), worker="w@h") == 1
    row.refresh_from_db()
    assert (row.status, len(row.error), row.worker) == (Status.FAILED, MAX_ERROR_LENGTH, "w@h")


def test_requeue_counts_the_send_and_never_touches_a_done_request() -> None:
    failed, done = make_request(status=Status.FAILED, error="boom"), make_request(status=Status.DONE)
    later = timezone.now()
    assert _one(failed).requeue(later) == 1
    assert _one(done).requeue(later) == 0
    failed.refresh_from_db()
    assert (failed.status, failed.error, failed.dispatches, failed.dispatched_at) == (Status.QUEUED, "", 2, later)


def test_pending_and_finished_split_the_statuses() -> None:
    for status in Status.values:
        make_request(status=status)
    assert {row.status for row in Classification.objects.pending()} == {Status.QUEUED, Status.RUNNING}
    assert {row.status for row in Classification.objects.finished()} == {Status.DONE, Status.FAILED, Status.EXPIRED}

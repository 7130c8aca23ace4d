"""A queue created again: what it may have held is sent again after the grace, and only that."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classifier.models import Classification, Status
from classifier.recovery.lost_queues import REBIRTH_GRACE, QueueRebirths, resend_sent_before
from classifier.results import recording
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db


class Queue:
    """The one call QueueRebirths makes of a queue reader (common.queues.SqsQueueDepth)."""

    def __init__(self, name: str, created: float) -> None:
        self.queue_name = name
        self.created = created

    def created_at(self) -> float:
        return self.created


def test_the_first_look_takes_note_and_a_later_creation_time_is_a_rebirth() -> None:
    classify, results = Queue("classify", 1000.0), Queue("results", 1000.0)
    rebirths = QueueRebirths([classify, results])
    assert rebirths.check() is None  # nothing to compare with yet
    assert rebirths.check() is None
    results.created = 2000.5
    reborn = rebirths.check()
    assert reborn is not None and reborn.timestamp() == pytest.approx(2001.5)  # with the timestamp's grain
    assert rebirths.check() is None  # noticed once


def test_pending_requests_sent_before_the_rebirth_are_sent_again_and_no_others() -> None:
    lost_queued, lost_running = (
        make_request(sent_seconds_ago=60),
        make_request(sent_seconds_ago=50, status=Status.RUNNING),
    )
    answered = make_request(sent_seconds_ago=60)
    recording.record_result(str(answered.pk), result_payload())
    sent_after = make_request(sent_seconds_ago=5)
    sent: list[Classification] = []
    now = timezone.now()
    resent, error = resend_sent_before(now - timedelta(seconds=30), now, sent.append)
    assert error is None
    assert sorted(resent) == sorted([str(lost_queued.pk), str(lost_running.pk)])
    assert {row.pk for row in sent} == {lost_queued.pk, lost_running.pk}
    for row in (lost_queued, lost_running):
        row.refresh_from_db()
        # Not one more send against MAX_DISPATCHES: the queue lost it, not a worker.
        assert (row.status, row.dispatches, row.dispatched_at) == (Status.QUEUED, 1, now)
    sent_after.refresh_from_db()
    assert sent_after.dispatches == 1


def test_more_than_a_batch_are_all_sent_again(monkeypatch) -> None:
    monkeypatch.setattr("classifier.recovery.lost_queues.BATCH", 3)
    rows = [make_request(sent_seconds_ago=60) for _ in range(7)]
    now = timezone.now()
    assert len(resend_sent_before(now, now, lambda row: None)[0]) == len(rows)


def test_a_failed_send_stops_the_re_sends_and_leaves_the_rest_for_the_next_pass() -> None:
    rows = [make_request(sent_seconds_ago=60 - n) for n in range(3)]
    now = timezone.now()

    def queue_down(row: Classification) -> None:
        raise ConnectionError("endpoint unreachable")

    resent, error = resend_sent_before(now - timedelta(seconds=30), now, queue_down)
    assert (resent, type(error)) == ([], ConnectionError)
    resent, error = resend_sent_before(now - timedelta(seconds=30), now, lambda row: None)
    assert error is None and resent == [str(row.pk) for row in rows[1:]]  # the first waits for its deadline


def test_a_failed_read_forgets_nothing() -> None:
    """A queue re-created while the other could not be read is still noticed on the next look."""

    class Unreadable(Queue):
        def created_at(self) -> float:
            raise ConnectionError("endpoint unreachable")

    classify, results = Queue("classify", 1000.0), Queue("results", 1000.0)
    rebirths = QueueRebirths([classify, results])
    rebirths.check()
    classify.created = 2000.0
    rebirths.queues = [classify, Unreadable("results", 0)]
    with pytest.raises(ConnectionError):
        rebirths.check()
    rebirths.queues = [classify, results]
    assert rebirths.check() is not None


def test_the_sweeper_waits_out_the_grace_before_sending_again(monkeypatch) -> None:
    from classifier.recovery.sweeper import Sweeper

    lost = make_request(sent_seconds_ago=60)
    classify = Queue("classify", 1000.0)
    sweeper = Sweeper(lambda: None, after=timedelta(seconds=600), max_dispatches=3)
    sweeper._rebirths = QueueRebirths([classify])
    sent: list[Classification] = []
    monkeypatch.setattr("classifier.dispatch.send_for_classification", sent.append)
    now = timezone.now()
    assert sweeper.resend_lost(now) == []
    classify.created = (now - timedelta(seconds=10)).timestamp()
    assert sweeper.resend_lost(now) == []  # in the grace: a retried send or a running task may still answer
    assert sweeper.resend_lost(now + REBIRTH_GRACE) == [str(lost.pk)]
    assert [row.pk for row in sent] == [lost.pk]
    assert sweeper.resend_lost(now + REBIRTH_GRACE * 2) == []

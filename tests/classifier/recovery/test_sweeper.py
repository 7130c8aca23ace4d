from datetime import timedelta

import pytest
from django.utils import timezone

from classifier.models import Classification, Status
from classifier.recovery.sweeper import sweep
from classifier.results import recording
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db

AFTER = timedelta(seconds=600)


def _row(age: float, status: str = Status.QUEUED, dispatches: int = 1) -> Classification:
    return make_request(sent_seconds_ago=age, status=status, dispatches=dispatches)


def test_stale_requests_are_resent_and_fresh_or_finished_ones_left_alone() -> None:
    stale_queued, stale_running = _row(700), _row(900, Status.RUNNING)
    fresh = _row(10)
    finished = _row(900)
    recording.record_result(str(finished.pk), result_payload())
    sent: list[Classification] = []
    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=sent.append)
    assert sorted(report.resent) == sorted([str(stale_queued.pk), str(stale_running.pk)])
    assert {row.pk for row in sent} == {stale_queued.pk, stale_running.pk}
    for row in (stale_queued, stale_running):
        row.refresh_from_db()
        assert (row.status, row.dispatches) == (Status.QUEUED, 2)
    fresh.refresh_from_db()
    assert fresh.dispatches == 1


def test_after_max_sends_the_request_fails_with_the_reason() -> None:
    row = _row(700, dispatches=3)
    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=lambda row: None)
    assert report.failed == [str(row.pk)]
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "no result after 3 sends" in row.error


def test_two_sweepers_with_the_same_view_send_once() -> None:
    row = _row(700)
    sent: list[Classification] = []
    now = timezone.now()
    first = sweep(now, after=AFTER, max_dispatches=3, send=sent.append)
    # A second sweeper that read the row before the first claimed it finds the claim gone.
    stale_copy = Classification.objects.filter(pk=row.pk, dispatched_at=row.dispatched_at)
    assert first.resent == [str(row.pk)] and not stale_copy.exists()
    second = sweep(now, after=AFTER, max_dispatches=3, send=sent.append)
    assert second.resent == [] and len(sent) == 1


def test_a_failed_send_is_tried_again_at_the_next_deadline() -> None:
    row = _row(700)

    def broken(_: Classification) -> None:
        raise ConnectionError("queue unreachable")

    assert sweep(timezone.now(), after=AFTER, max_dispatches=3, send=broken).resent == []
    later = timezone.now() + timedelta(seconds=601)
    sent: list[Classification] = []
    assert sweep(later, after=AFTER, max_dispatches=3, send=sent.append).resent == [str(row.pk)]


def test_dead_letter_bodies_that_are_not_classify_messages_have_no_request_id() -> None:
    from classifier.recovery.dead_letters import request_id_of
    from fastpaths import celery_messages

    assert request_id_of(celery_messages.encode("classifier.classify", "t1", ["abc", "k", "n"], "classify")) == "abc"
    assert request_id_of("not base64 at all!") is None
    assert request_id_of(celery_messages.encode("classifier.other", "t2", ["abc"], "classify")) is None
    assert request_id_of('{"version": 1, "reports": []}') is None  # a refused report


def test_behind_a_long_backlog_only_the_missing_messages_are_resent() -> None:
    """Five stale requests, four of their messages still queued behind the backlog: one was lost, one is re-sent
    (the oldest), and nobody is given up on while their messages may still be served."""
    rows = [_row(700 + n) for n in range(5)]
    nearly_out = _row(700, dispatches=3)
    sent: list[Classification] = []
    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=sent.append, backlog=lambda: 5)
    assert [row.pk for row in sent] == [rows[-1].pk]  # 6 pending - 5 in the queue = 1 missing: the oldest send
    assert (report.failed, report.deferred) == ([], 5)
    assert "left 5 stale ones whose messages may still be queued" in report.line()
    nearly_out.refresh_from_db()
    assert nearly_out.status == Status.QUEUED


def test_an_empty_queue_means_every_stale_request_is_lost() -> None:
    rows = [_row(700), _row(800, dispatches=3)]
    sent: list[Classification] = []
    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=sent.append, backlog=lambda: 0)
    assert (report.resent, report.failed, report.deferred) == ([str(rows[0].pk)], [str(rows[1].pk)], 0)


def test_an_unreadable_backlog_does_not_hold_back_the_sweep() -> None:
    row = _row(700)

    def unreachable() -> int:
        raise ConnectionError("endpoint down")

    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=lambda row: None, backlog=unreachable)
    assert report.resent == [str(row.pk)]


def test_overdue_requests_are_handled_even_when_the_queue_seems_to_hold_them() -> None:
    """Nobody consuming (no worker can start): the backlog never drains, yet requests must still end."""
    waiting, overdue, given_up = _row(700), _row(1900), _row(2000, dispatches=3)
    sent: list[Classification] = []
    report = sweep(timezone.now(), after=AFTER, max_dispatches=3, send=sent.append, backlog=lambda: 3)
    assert [row.pk for row in sent] == [overdue.pk]
    assert (report.failed, report.deferred) == ([str(given_up.pk)], 1)
    waiting.refresh_from_db()
    assert waiting.dispatches == 1


def test_with_sqs_unreachable_the_database_side_goes_on_and_the_outage_is_logged_once(caplog) -> None:
    import boto3
    from botocore.config import Config

    from classifier.recovery.sweeper import Sweeper
    from stack.processes import free_port

    unreachable = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local",
                               config=Config(retries={"max_attempts": 1}, connect_timeout=1))  # fmt: skip
    hopeless = _row(3 * 700, dispatches=3)  # past its last send: given up on without any SQS call
    sweeper = Sweeper(lambda: unreachable, after=AFTER, max_dispatches=3)
    with caplog.at_level("WARNING"):
        first = sweeper.sweep(timezone.now())
        sweeper.sweep(timezone.now())
    assert first.failed == [str(hopeless.pk)]
    outage_lines = [r.getMessage() for r in caplog.records if "sweep's SQS reads" in r.getMessage()]
    assert len(outage_lines) == 1 and "AWS endpoint unreachable" in outage_lines[0]

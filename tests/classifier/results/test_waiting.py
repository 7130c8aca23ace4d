import asyncio
import threading

import pytest

from classifier.models import Status
from classifier.results import recording
from classifier.results.waiting import ResultWaiter
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db(transaction=True)


def test_waiters_wake_when_the_row_finishes_and_time_out_otherwise() -> None:
    done = make_request(original_name="a.jpg", input_key="a")
    pending = make_request(original_name="b.jpg", input_key="b")
    later = make_request(original_name="c.jpg", input_key="c")
    recording.record_result(str(done.pk), result_payload())
    timer = threading.Timer(0.3, recording.record_result, args=(str(later.pk), result_payload("tabby cat")))

    async def scenario() -> tuple:
        waiter = ResultWaiter(poll_seconds=0.02)
        timer.start()
        return await asyncio.gather(
            waiter.wait(done.pk, 2), waiter.wait(pending.pk, 0.5), waiter.wait(later.pk, 5), waiter.wait(done.pk, 2)
        )

    first, timed_out, woken, again = asyncio.run(scenario())
    assert first.status == Status.DONE and again.pk == done.pk
    assert set(first.get_deferred_fields()) >= {"top5", "input_key"}  # the answer's fields alone (ANSWER_FIELDS)
    assert timed_out is None
    assert woken.label == "tabby cat"


def test_a_nudge_from_the_results_consumer_wakes_the_waiter_long_before_the_next_poll(settings, tmp_path) -> None:
    """Polled every 5 s, the waiter hears of a result recorded at 0.3 s within a few tens of ms of the nudge."""
    import time

    from classifier.results.wakeup import nudge_waiters

    settings.RESULT_WAKEUP_DIR = str(tmp_path / "run")
    row = make_request(original_name="d.jpg", input_key="d")

    def record_and_nudge() -> None:
        recording.record_result(str(row.pk), result_payload("goldfish"))
        assert nudge_waiters() == 1  # the one waiter's process

    async def scenario() -> tuple[object, float]:
        waiter = ResultWaiter(poll_seconds=5)
        started = time.monotonic()
        threading.Timer(0.3, record_and_nudge).start()
        found = await waiter.wait(row.pk, 10)
        return found, time.monotonic() - started

    found, seconds = asyncio.run(scenario())
    assert found.label == "goldfish"
    assert seconds < 1.5, seconds


def test_a_nudge_for_a_web_process_that_is_gone_removes_its_socket(settings, tmp_path) -> None:
    import socket

    from classifier.results.wakeup import nudge_waiters

    settings.RESULT_WAKEUP_DIR = str(tmp_path)
    gone = tmp_path / "1-0.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listening:
        listening.bind(str(gone))
    assert nudge_waiters() == 0
    assert not gone.exists()

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


def test_a_pushed_answer_wakes_its_waiter_without_asking_the_database(settings, tmp_path) -> None:
    """The database still says queued: the answer can only have come with the nudge."""
    import time

    from classifier.results.waiting import answer_of
    from classifier.results.wakeup import nudge_waiters

    settings.RESULT_WAKEUP_DIR = str(tmp_path / "run")
    row = make_request(original_name="d.jpg", input_key="d")
    answer = answer_of(id=row.pk, status=Status.DONE, label="goldfish", error="", original_name="d.jpg")
    timer = threading.Timer(0.3, nudge_waiters, args=([answer],))

    async def scenario() -> tuple[object, float]:
        waiter = ResultWaiter(poll_seconds=5)
        started = time.monotonic()
        timer.start()
        found = await waiter.wait(row.pk, 10)
        return found, time.monotonic() - started

    found, seconds = asyncio.run(scenario())
    assert (found.pk, found.status, found.label, found.original_name) == (row.pk, Status.DONE, "goldfish", "d.jpg")
    assert set(found.get_deferred_fields()) >= {"top5", "input_key"}  # as the poller's query loads it
    assert seconds < 1.5, seconds


def test_the_timed_look_backs_off_while_pushes_arrive_and_not_otherwise(settings, tmp_path, monkeypatch) -> None:
    """A waiter for a request that does not finish in 1.5 s, looked for every 20 ms: about 75 queries. With answers
    for other requests pushed meanwhile, the looks space out to a second apart."""
    import time

    from classifier.results import waiting
    from classifier.results.wakeup import nudge_waiters

    settings.RESULT_WAKEUP_DIR = str(tmp_path / "run")
    row = make_request()
    other = waiting.answer_of(id=make_request().pk, status=Status.DONE, label="x", error="", original_name="o.jpg")
    queries: list[float] = []
    finished_rows = waiting._finished_rows
    monkeypatch.setattr(waiting, "_finished_rows", lambda ids: queries.append(time.monotonic()) or finished_rows(ids))

    def looks(pushing: bool) -> int:
        queries.clear()
        stop = threading.Event()

        def push() -> None:
            while not stop.wait(0.1):
                nudge_waiters([other])

        async def scenario() -> None:
            waiter = ResultWaiter(poll_seconds=0.02)
            pusher = threading.Thread(target=push)
            if pushing:
                pusher.start()
            try:
                assert await waiter.wait(row.pk, 1.5) is None
            finally:
                stop.set()
                if pushing:
                    pusher.join()

        asyncio.run(scenario())
        return len(queries)

    assert looks(pushing=False) > 40
    assert looks(pushing=True) < 15


def test_the_pace_doubles_only_while_pushes_arrive_and_resets_when_a_look_finds_what_no_push_brought() -> None:
    from classifier.results.waiting import PollPace

    pace = PollPace(0.05, longest=1.0)
    pace.looked_on_time(found=0)
    assert pace.seconds == 0.05  # no push heard of yet: nudges may not reach this process at all
    pace.pushed()
    for expected in (0.1, 0.2, 0.4, 0.8, 1.0, 1.0):
        pace.looked_on_time(found=0)
        assert pace.seconds == pytest.approx(expected)
    pace.looked_on_time(found=2)  # results no push brought (a consumer on another host): back to the start
    assert pace.seconds == 0.05
    pace.looked_on_time(found=0)
    assert pace.seconds == 0.05
    assert PollPace(2.0, longest=1.0).longest == 2.0  # never shorter than the configured interval

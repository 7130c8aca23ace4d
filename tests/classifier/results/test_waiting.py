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
    assert timed_out is None
    assert woken.label == "tabby cat"

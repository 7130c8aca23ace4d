import os
import threading
import time

from common.deferred import DeferredCalls


def test_a_call_is_made_at_its_time_on_the_named_thread() -> None:
    calls = DeferredCalls("test-deferred")
    made: list[tuple[float, str]] = []
    done = threading.Event()
    started = time.monotonic()
    calls.later(0.2, lambda: (made.append((time.monotonic() - started, threading.current_thread().name)), done.set()))
    assert done.wait(5)
    ((after, thread),) = made
    assert after >= 0.2
    assert thread == "test-deferred"


def test_calls_run_in_order_of_their_time_not_of_scheduling() -> None:
    calls = DeferredCalls("test-deferred")
    order: list[str] = []
    done = threading.Event()
    calls.later(0.3, lambda: (order.append("late"), done.set()))
    calls.later(0.1, lambda: order.append("early"))  # earlier than the one the thread is waiting for: it wakes
    assert done.wait(5)
    assert order == ["early", "late"]


def test_a_cancelled_call_is_never_made_and_the_others_still_are() -> None:
    calls = DeferredCalls("test-deferred")
    made: list[str] = []
    done = threading.Event()
    calls.later(0.1, lambda: made.append("cancelled")).cancel()
    calls.later(0.2, lambda: (made.append("kept"), done.set()))
    assert done.wait(5)
    time.sleep(0.1)
    assert made == ["kept"]


def test_a_failing_call_does_not_stop_the_calls_after_it() -> None:
    calls = DeferredCalls("test-deferred")
    done = threading.Event()
    calls.later(0, lambda: 1 / 0)
    calls.later(0.05, done.set)
    assert done.wait(5)


def test_many_calls_scheduled_and_cancelled_start_one_thread() -> None:
    calls = DeferredCalls("test-deferred-count")
    for _ in range(200):
        calls.later(30, lambda: None).cancel()
    assert [thread.name for thread in threading.enumerate()].count("test-deferred-count") == 1


def test_a_forked_child_runs_its_calls_on_a_thread_of_its_own() -> None:
    calls = DeferredCalls("test-deferred")
    parent_done = threading.Event()
    calls.later(0, parent_done.set)  # the parent's thread exists before the fork
    assert parent_done.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: exits with 0 only when its call was made
        try:
            child_done = threading.Event()
            calls.later(0.05, child_done.set)
            os._exit(0 if child_done.wait(5) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

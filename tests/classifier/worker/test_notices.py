import threading

from classifier.worker.notices import StartedNotice


def test_quick_work_sends_no_notice() -> None:
    sent = threading.Event()
    notice = StartedNotice(sent.set, after_seconds=0.2)
    notice.cancel()
    assert not sent.wait(0.4)


def test_slow_work_sends_the_notice_once_the_delay_passes() -> None:
    sent = threading.Event()
    notice = StartedNotice(sent.set, after_seconds=0.05)
    assert sent.wait(2)
    notice.cancel()  # harmless after the fact


def test_zero_delay_sends_at_once() -> None:
    calls: list[int] = []
    StartedNotice(lambda: calls.append(1), after_seconds=0).cancel()
    assert calls == [1]

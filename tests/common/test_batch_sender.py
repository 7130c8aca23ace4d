"""Batches that form by themselves: a lone item at once, what arrives during a send with the next one."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from common.batch_sender import BatchSender


def test_a_lone_item_goes_at_once_and_what_arrives_during_a_send_goes_with_the_next() -> None:
    batches: list[list[int]] = []
    in_send, release = threading.Event(), threading.Event()

    def send(items: Sequence[int]) -> None:
        batches.append(list(items))
        in_send.set()
        release.wait(5)

    sender = BatchSender(send, name="test-sender", max_batch=10)
    sender.put(0)
    assert in_send.wait(5)
    for n in range(1, 13):  # while the first send is under way
        sender.put(n)
    release.set()
    assert sender.flush()
    assert batches == [[0], list(range(1, 11)), [11, 12]]  # at most ten per send


def test_a_send_that_raises_does_not_stop_the_sender(caplog) -> None:
    sent: list[int] = []

    def send(items: Sequence[int]) -> None:
        if items[0] == 0:
            raise RuntimeError("boom")
        sent.extend(items)

    sender = BatchSender(send, name="test-sender")
    sender.put(0)
    assert sender.flush()
    sender.put(1)
    assert sender.flush()
    assert sent == [1]
    assert "sending a batch of 1 failed" in caplog.text


def test_with_a_linger_a_lone_item_still_goes_at_once() -> None:
    sent = threading.Event()
    sender = BatchSender(lambda items: sent.set(), name="test-sender", linger=5.0)
    started = time.monotonic()
    sender.put(0)
    assert sent.wait(5)
    assert time.monotonic() - started < 1.0  # nothing was sent within the linger before it: no waiting


def test_under_load_a_batch_waits_up_to_the_linger_to_fill() -> None:
    batches: list[list[int]] = []
    sender = BatchSender(lambda items: batches.append(list(items)), name="test-sender", linger=1.0)
    sender.put(0)
    assert sender.flush()
    started = time.monotonic()
    for n in range(1, 4):  # trickling in just after a send: they wait for each other, then leave together
        sender.put(n)
        time.sleep(0.05)
    assert sender.flush()
    assert batches == [[0], [1, 2, 3]]
    assert 0.9 < time.monotonic() - started < 3.0  # at most the linger, not a batch each
    for n in range(10, 20):  # ten at once fill a batch: it leaves without waiting out the linger
        sender.put(n)
    started = time.monotonic()
    assert sender.flush()
    assert batches[-1] == list(range(10, 20))
    assert time.monotonic() - started < 0.9

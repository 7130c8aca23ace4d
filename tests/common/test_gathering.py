"""The one batching rule: a batch goes when full, when an item completes it, on flush, or after `within`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from common.gathering import Gathering


class Taken:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.arrived = threading.Event()

    def __call__(self, items: Sequence[int]) -> None:
        self.batches.append(list(items))
        self.arrived.set()


def test_a_full_batch_goes_at_once_and_the_rest_waits() -> None:
    taken = Taken()
    gathering = Gathering(taken, within=60, name="test-full", size=3)
    for n in range(4):
        gathering.add(n)
    assert taken.batches == [[0, 1, 2]] and len(gathering) == 1


def test_an_item_that_completes_its_batch_sends_it() -> None:
    taken = Taken()
    gathering = Gathering(taken, within=60, name="test-completes")
    gathering.add(1)
    gathering.add(2, completes=True)
    assert taken.batches == [[1, 2]] and len(gathering) == 0


def test_a_batch_goes_within_its_delay_of_the_oldest_item_and_flush_takes_the_rest() -> None:
    taken = Taken()
    gathering = Gathering(taken, within=0.1, name="test-within")
    started = time.monotonic()
    gathering.add(1)
    assert taken.arrived.wait(5)
    assert taken.batches == [[1]] and 0.08 <= time.monotonic() - started < 2
    gathering.add(2)
    gathering.flush()
    gathering.flush()  # nothing left: nothing taken
    time.sleep(0.2)  # the cancelled timer takes nothing more
    assert taken.batches == [[1], [2]]

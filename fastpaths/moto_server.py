"""moto, bent: three of its per-request costs taken out, for the embedded endpoint (stack/endpoint.py). Each change
gives moto's own answer for less work:
- **A received message's retention check** (`SQSBackend.is_message_valid_based_on_retention_period`) read the queue's
  retention period through `get_queue_attributes`, which builds every attribute of the queue three times over, and
  each build counts the queue's messages (visible, in flight, delayed). That ran for every message received: a
  receive cost time in proportion to the queue's length, which is why moto slowed sharply past about a thousand
  queued messages, and it held a fifth of the endpoint's samples under the benchmark's load. Here it reads the queue's
  own field, the value that attribute is built from.
- **The module list** (`moto.backends.list_of_moto_modules`), which every request consults to see whether its Host
  header names a service, listed moto's folder on disk and asked the disk about every entry each time. The list
  cannot change while the server runs: here it is read once.
- **The clock SQS reads** (`moto.sqs.models.unix_time_millis`): every message's visibility and delay checks read the
  time through a datetime built, imported and subtracted anew for each call, and every send, receive and attribute
  count runs those checks over the whole queue. Here the SQS models read `time.time()`, the same clock, in
  milliseconds (a moment given explicitly still goes moto's way).

`apply` reports a change it could not make (another moto); tests/fastpaths/test_guards.py holds the names against
the pinned moto.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any


def within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    """Whether `message` is still within its queue's retention period: moto's check, from the queue's own field."""
    from moto.core.utils import unix_time

    queue = backend.get_queue(queue_name)
    return bool(queue.message_retention_period + message.sent_timestamp / 1000 > unix_time())


def now_millis(original: Callable[..., float]) -> Callable[..., float]:
    """moto's `unix_time_millis`, reading the clock directly where no moment is given."""

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    return unix_time_millis


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> bool:
    original = getattr(owner, name, None)
    if original is None:
        return False
    setattr(owner, name, make(original))
    return True


def apply() -> dict[str, bool]:
    """Apply the changes this module's docstring lists to the moto loaded in this process; whether each applied."""
    from moto import backends
    from moto.sqs import models as sqs_models
    from moto.sqs.models import SQSBackend

    return {
        "SQSBackend.is_message_valid_based_on_retention_period": _patch(
            SQSBackend, "is_message_valid_based_on_retention_period", lambda _original: within_retention
        ),
        "backends.list_of_moto_modules": _patch(
            backends, "list_of_moto_modules", lambda original: functools.cache(lambda: tuple(original()))
        ),
        "sqs.models.unix_time_millis": _patch(sqs_models, "unix_time_millis", now_millis),
    }

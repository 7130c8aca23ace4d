"""The embedded AWS endpoint's server: moto's own, with two of its per-request costs taken out.

`python -m stack.endpoint -H HOST -p PORT` is `python -m moto.server -H HOST -p PORT` with these changes, each giving
moto's own answer for less work:
- **A received message's retention check** (`SQSBackend.is_message_valid_based_on_retention_period`) read the queue's
  retention period through `get_queue_attributes`, which builds every attribute of the queue three times over, and
  each build counts the queue's messages (visible, in flight, delayed). That ran for every message received: a
  receive cost time in proportion to the queue's length, which is why moto slowed sharply past about a thousand
  queued messages, and it held a fifth of the endpoint's samples under the benchmark's load. Here it reads the queue's
  own field, the value that attribute is built from.
- **The module list** (`moto.backends.list_of_moto_modules`), which every request consults to see whether its Host
  header names a service, listed moto's folder on disk and asked the disk about every entry each time. The list
  cannot change while the server runs: here it is read once.

Where moto's code no longer has what a change replaces (another version), the server starts without that change and
says which on stderr. The endpoint is the local stack's and the tests' stand-in for AWS, never a part of production.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any


def within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    """Whether `message` is still within its queue's retention period: moto's check, from the queue's own field."""
    from moto.core.utils import unix_time

    queue = backend.get_queue(queue_name)
    return bool(queue.message_retention_period + message.sent_timestamp / 1000 > unix_time())


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> bool:
    original = getattr(owner, name, None)
    if original is None:
        return False
    setattr(owner, name, make(original))
    return True


def apply() -> dict[str, bool]:
    """Apply the changes this module's docstring lists to the moto loaded in this process; whether each applied."""
    from moto import backends
    from moto.sqs.models import SQSBackend

    return {
        "SQSBackend.is_message_valid_based_on_retention_period": _patch(
            SQSBackend, "is_message_valid_based_on_retention_period", lambda _original: within_retention
        ),
        "backends.list_of_moto_modules": _patch(
            backends, "list_of_moto_modules", lambda original: functools.cache(lambda: tuple(original()))
        ),
    }


def main(argv: list[str] | None = None) -> None:
    from moto import server

    # No logging set-up here: werkzeug prints each request's line only where the root logger has no handler, and
    # those lines are how the benchmark counts SQS calls.
    for name, applied in apply().items():
        if not applied:
            sys.stderr.write(f"stack.endpoint: this moto has no {name}; it runs as moto ships it\n")
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()

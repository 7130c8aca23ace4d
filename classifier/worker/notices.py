"""The "running" notice a worker sends for a request that takes a while.

Every message costs an SQS round trip on both ends (send, receive, delete). Most classifications finish in tens of
milliseconds, too soon for anyone to see a `running` state, so the notice goes out only when the work is still
going after STARTED_NOTICE_SECONDS: slow or stuck requests show `running` and the worker that holds them, quick ones
go straight from queued to done: a notice per request would cost the stack a good share of its throughput.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from classifier.contract import Kind
from classifier.worker.outbox import send_now
from common.deferred import Deferred, DeferredCalls

# Their own thread: an outbox flush that waits on SQS does not hold back a notice (classifier/worker/outbox.py)
_NOTICES = DeferredCalls("started-notices")

Send = Callable[[], object]


class StartedNotice:
    def __init__(self, send: Send, after_seconds: float) -> None:
        self._pending: Deferred | None = None
        if after_seconds <= 0:
            send()
        else:
            self._pending = _NOTICES.later(after_seconds, send)

    def cancel(self) -> None:
        """The work is over: a notice not yet sent is never sent (one racing out is ignored by the recorder)."""
        if self._pending is not None:
            self._pending.cancel()


def started_notice(request_id: str, worker: str, started_at: str) -> StartedNotice:
    """The notice for a request whose work began at `started_at`, sent if it lasts STARTED_NOTICE_SECONDS."""
    return StartedNotice(lambda: send_now(Kind.STARTED, request_id, worker, started_at),
                         settings.STARTED_NOTICE_SECONDS)  # fmt: skip

"""Log lines that follow one request across tiers, as plain text or one JSON object per line.

The request a process is working on is a context variable: the web tier sets it while it accepts and sends a
request, the workers and the results consumer while a task about it runs (project/celery.py). A filter copies it onto
every record (`-` when there is none), so the formatters in settings.LOGGING can print it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# No format here names the thread a line was logged on: each record need not look it up (a documented switch).
logging.logThreads = False

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
NONE = "-"


def current_request() -> str | None:
    return _current.get()


@contextlib.contextmanager
def about_request(request_id: object) -> Iterator[None]:
    """Every line logged inside is about this request."""
    token = _current.set(str(request_id))
    try:
        yield
    finally:
        _current.reset(token)


def set_request(request_id: object | None) -> contextvars.Token[str | None]:
    """For the places a `with` cannot span (a task's prerun and postrun signals); undo with `reset_request`."""
    return _current.set(None if request_id is None else str(request_id))


def reset_request(token: contextvars.Token[str | None]) -> None:
    with contextlib.suppress(ValueError):  # made in another context (a task that ran elsewhere): nothing to undo
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # a line may name its request itself (extra={"request_id": ...})
            record.request_id = _current.get() or NONE
        return True


class QuietProbes(logging.Filter):
    """Drops django.request's line about an error answer to a health probe (`/readyz`'s 503): a load balancer asks
    every few seconds, and the outage behind it is logged once by what meets it (common/outages.py)."""

    def __init__(self, paths: tuple[str, ...] = ("/readyz",)) -> None:
        super().__init__()
        self.paths = frozenset(paths)

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(getattr(record, "request", None), "path", None) not in self.paths


class PlainFormatter(logging.Formatter):
    """The plain line, with the time formatted once per second: logging's own formatter calls `strftime` for every
    record, and every upload logs a line on each tier."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second: tuple[int, str] = (-1, "")  # replaced whole: threads read it without a lock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        if datefmt:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    """One object per line: time (UTC, ISO 8601), level, logger, process, message, request_id where there is one,
    and the exception's traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", NONE)
        if request_id != NONE:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)

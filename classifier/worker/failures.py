"""What a worker does when a request's work raised: fail it with the reason, retry it later, or hand it back.

- fail at once: an image no retry can read, a missing input, a storage refusal that is the same for every worker
  (access denied, no such bucket), or a transient error that outlasted its retries;
- retry (after exponential backoff with full jitter): a transient storage error, an outage (common.outages);
- hand back (unacknowledged: received again, by this worker or another, and dead-lettered after
  SQS_MAX_RECEIVE_COUNT receives): anything else, such as a bug or one worker's expired credentials or skewed clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from botocore.exceptions import ClientError

from classifier.contract import backoff_seconds
from classifier.images import UnreadableImage
from common.outages import is_transient

TRANSIENT_RETRIES = 5

# Storage answers that say "this will never work" for this request: a retry or another worker gets the same. Credential
# and clock errors are not here: one sick worker must not fail the queue, so those are redelivered to the others.
PERMANENT_STORAGE_CODES = frozenset({
    "AccessDenied", "403", "NoSuchBucket", "AllAccessDisabled", "InvalidBucketName", "NoSuchKey", "404",
})  # fmt: skip


class Action(enum.StrEnum):
    FAIL = "fail"
    RETRY = "retry"
    HAND_BACK = "hand back"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str = ""  # FAIL: what the request's row will say (it reaches clients)
    countdown: float = 0.0  # RETRY: seconds to wait first


def verdict(error: BaseException, *, input_key: str, retries: int) -> Verdict:
    """What to do about `error`, raised while working on the request whose input is `input_key`, after `retries`."""
    if isinstance(error, UnreadableImage):
        return Verdict(Action.FAIL, f"unreadable image: {error}")
    if isinstance(error, FileNotFoundError):
        return Verdict(Action.FAIL, f"input object {input_key} is missing")
    refusal = permanent_storage_error(error)
    if refusal is not None:
        return Verdict(Action.FAIL, refusal)
    if not is_transient(error):
        return Verdict(Action.HAND_BACK)
    if retries >= TRANSIENT_RETRIES:
        return Verdict(Action.FAIL, f"gave up after {TRANSIENT_RETRIES} retries: {error}")
    return Verdict(Action.RETRY, countdown=backoff_seconds(retries))


def permanent_storage_error(error: BaseException) -> str | None:
    """The reason to record at once for a storage refusal no retry will fix (access denied, no such bucket), or None.

    Without this such a message would be received again and again until it is dead-lettered, minutes later, under
    a reason that blames the worker. Only the code goes into the reason (it reaches clients); S3's message, which
    can name accounts and roles, stays in the worker's log.
    """
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in PERMANENT_STORAGE_CODES:
            return f"storage refused the request: {code}"
    return None

"""The sweeper's look at the dead-letter queue: fail the requests of dead letters, and leave the letters there.

Without it a poison image's request would wait, queued, until an operator ran `manage.py deadletters fail`, or until
the sweeper gave up on it MAX_DISPATCHES x SWEEP_AFTER_SECONDS later. Each pass peeks: it receives at most
PEEK_RECEIVES x 10 letters with a short visibility, fails the requests still waiting for those very messages (a
conditional UPDATE, so two sweepers fail each once), then makes the letters visible again at once. The messages
stay for an operator to re-drive or drop; the queue keeps them 14 days (stack/provision.py).

A queue deeper than one pass can look at is seen in parts: AWS hands out a different sample on each receive, but
the embedded endpoint always answers with the oldest letters first. An operator's `deadletters fail` takes them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from classifier.dead_letters import ATTRIBUTES, DeadLetterQueues, fail_request, find_queues, letters_from, reason
from classifier.dead_letters import release as release_letters

logger = logging.getLogger(__name__)

PEEK_RECEIVES = 10  # receive calls per pass, 10 letters each: the pass stays cheap however deep the queue
# Long enough to page through one pass without seeing a letter twice; the pass releases them sooner anyway.
PEEK_VISIBILITY = 10


def fail_dead_lettered(sqs: Any, queues: DeadLetterQueues, now: datetime, receives: int = PEEK_RECEIVES) -> list[str]:
    """One peek at the dead-letter queue; returns the requests this pass failed."""
    letters = []
    for _ in range(receives):
        messages = sqs.receive_message(
            QueueUrl=queues.dead_letter, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_VISIBILITY,
            WaitTimeSeconds=0, AttributeNames=ATTRIBUTES,
        ).get("Messages", [])  # fmt: skip
        if not messages:
            break
        letters += letters_from(messages)
    try:
        why = reason(queues.max_receive_count)
        failed = [str(letter.request_id) for letter in letters if fail_request(letter, why, now)]
    finally:
        # Visible again now, so `deadletters redrive` and `list` see the whole queue right after a pass.
        release_letters(sqs, queues.dead_letter, letters)
    for request_id in failed:
        logger.warning("request %s failed: %s", request_id, why)
    return failed


class DeadLetterWatch:
    """Makes its client and finds the queues on first use (the sweeper's first pass starts with the database, not
    with boto3's import), and finds the queues again after an error (the endpoint may have restarted)."""

    def __init__(self, make_client: Callable[[], Any]) -> None:
        self.make_client = make_client
        self.sqs: Any = None
        self.queues: DeadLetterQueues | None = None

    def run(self, now: datetime) -> list[str]:
        try:
            if self.queues is None:
                self.sqs = self.sqs or self.make_client()
                self.queues = find_queues(self.sqs)
            return fail_dead_lettered(self.sqs, self.queues, now)
        except (BotoCoreError, ClientError) as exc:
            # The queue is transport: requests keep waiting in the database and the next pass looks again.
            logger.warning("cannot look at the dead-letter queue (%s); trying again next pass", exc)
            self.queues = None
            return []

"""The SQS transport our workers consume with: synchronous receives, a visibility heartbeat, hand-backs at once.

Synchronous: kombu's SQS transport declares itself asynchronous, so Celery drives it from its event loop with pycurl.
Measured here against the embedded endpoint, that loop stalled about 115 ms on half of its receives and one worker
drained 7.4 images/s; consumed synchronously (boto3 long polls, Celery's plain loop) the same worker drained 14.8/s.
Publishing is unchanged: the web tier always sends with boto3.

Heartbeat: the queues' visibility timeout is short (SQS_VISIBILITY_TIMEOUT, 30 s), so a message held by a worker
that died is visible again within that time. While the process that holds a message is alive, a thread extends the
message's visibility every third of that timeout (ChangeMessageVisibility), however long the task runs. It covers
everything the channel holds and has not acknowledged: the running task, prefetched messages, a retry's countdown.

Hand-backs: kombu restores what a channel still holds when it closes (a warm shutdown) and a rejected message asked
to be requeued (a pool process that died) by making it visible after `wait_time_seconds`. Here it is visible at
once (visibility 0): another worker can take it on its next receive.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from kombu.transport import SQS

from common import aws

logger = logging.getLogger(__name__)

# change_message_visibility_batch takes at most this many entries.
SQS_BATCH = 10
# A beat holds the lock that acknowledgements wait on: against an unreachable endpoint it gives up in seconds, not
# after the minutes of a default client's retries. Two beats may fail before a held message expires.
HEARTBEAT_CLIENT = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})


class HeldMessages(SQS.QoS):
    """The channel's unacknowledged deliveries, and a lock so the heartbeat never extends a message being handed
    back or acknowledged at the same moment (that would hide a handed-back message for another timeout)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.RLock()

    def held(self) -> list[tuple[str, str]]:
        """(queue URL, receipt handle) of every delivery not yet acknowledged, rejected or restored."""
        with self.lock:
            return [
                (message.delivery_info["sqs_queue"], tag)
                for tag, message in self._delivered.items()
                if tag not in self._dirty and "sqs_queue" in message.delivery_info
            ]

    def ack(self, delivery_tag: str) -> None:
        with self.lock:
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        with self.lock:
            super().reject(delivery_tag, requeue=requeue)

    def restore_unacked(self) -> list[Any]:
        with self.lock:
            return super().restore_unacked()


class HeartbeatChannel(SQS.Channel):
    QoS = HeldMessages

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_stop = threading.Event()
        self._heartbeat_sqs: Any = None

    @property
    def heartbeat_interval(self) -> float:
        return self.visibility_timeout / 3

    def basic_consume(self, *args: Any, **kwargs: Any) -> Any:
        # Only consumers hold messages: a publishing channel (the web tier's) never starts the thread.
        if self._heartbeat is None:
            self._heartbeat = threading.Thread(target=self._beat, name="sqs-visibility-heartbeat", daemon=True)
            self._heartbeat.start()
        return super().basic_consume(*args, **kwargs)

    def close(self) -> None:
        # Stop extending before kombu hands the held messages back, or a late beat could hide them again.
        self._heartbeat_stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=10)
        super().close()

    def _beat(self) -> None:
        while not self._heartbeat_stop.wait(self.heartbeat_interval):
            try:
                self.extend_held()
            except Exception:  # the next beat tries again; two missed beats still leave a third before expiry
                logger.warning("visibility heartbeat failed", exc_info=True)

    def extend_held(self) -> int:
        """Push back the visibility timeout of every held message; returns how many were extended."""
        with self.qos.lock:
            by_queue: dict[str, list[str]] = defaultdict(list)
            for queue_url, receipt in self.qos.held():
                by_queue[queue_url].append(receipt)
            extended = 0
            for queue_url, receipts in by_queue.items():
                for start in range(0, len(receipts), SQS_BATCH):
                    extended += self._extend(queue_url, receipts[start : start + SQS_BATCH])
        return extended

    def _extend(self, queue_url: str, receipts: list[str]) -> int:
        entries = [
            {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": self.visibility_timeout}
            for n, receipt in enumerate(receipts)
        ]
        if self._heartbeat_sqs is None:
            self._heartbeat_sqs = aws.client("sqs", config=HEARTBEAT_CLIENT)
        try:
            answer = self._heartbeat_sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not extend %d held message(s) on %s: %s", len(receipts), queue_url, exc)
            return 0
        for failure in answer.get("Failed", []):
            # A message acknowledged a moment ago, or one from before the queue was recreated: nothing to keep.
            logger.debug("visibility not extended: %s", failure.get("Message") or failure.get("Code"))
        return len(answer.get("Successful", []))

    def _restore(self, message: Any, unwanted_delivery_info: tuple[str, ...] = ("sqs_message", "sqs_queue")) -> None:
        queue_url = message.delivery_info.get("sqs_queue")
        if queue_url is None:
            super()._restore(message, unwanted_delivery_info)
            return
        self.sqs().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message.delivery_tag, VisibilityTimeout=0
        )
        logger.info("handed back a held message (visible again at once)")


class SynchronousSQSTransport(SQS.Transport):
    Channel = HeartbeatChannel
    implements = SQS.Transport.implements.extend(asynchronous=False)

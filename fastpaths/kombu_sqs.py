"""kombu's SQS transport, bent: the transport our workers consume with, with synchronous receives, a visibility
heartbeat, hand-backs at once and batched deletes. With FAST_PATHS off (or `kombu_sqs` not in it) the settings name
kombu's own `sqs` transport instead, which deletes each message when its task is acknowledged.

It subclasses kombu's QoS, Channel and Transport: the private names it reads or overrides (the QoS's deliveries,
the channel's receive, restore and message decoding) are held by tests/fastpaths/test_guards.py.

Synchronous: kombu's SQS transport declares itself asynchronous, so Celery drives it from its event loop with pycurl.
Against the embedded endpoint that loop stalled on half of its receives, and a worker consumed synchronously
(boto3 long polls, Celery's plain loop) drained about twice as many images (bench/README.md). Publishing is
unchanged.

Heartbeat: the queues' visibility timeout is short (SQS_VISIBILITY_TIMEOUT, 10 s), so a message held by a worker
that died is visible again within that time. While the process that holds a message is alive, a thread extends the
message's visibility every third of that timeout (ChangeMessageVisibility), however long the task runs. It covers
everything the channel holds and has not acknowledged: the running task, prefetched messages, a retry's countdown.
Its calls use kombu's short-timeout client (one try, 5 s), so a beat that meets a dead endpoint gives up before
the next is due, and the beats keep a fixed pace.

Hand-backs: kombu restores what a channel still holds when it closes (a warm shutdown) and a rejected message asked
to be requeued (a pool process that died) by making it visible after `wait_time_seconds`. Here it is visible at
once (visibility 0): another worker can take it on its next receive.

Warm shutdown: Celery's consumer loop goes on for a cycle or two after SIGTERM (each a long poll of up to
`wait_time_seconds` inside a 2 s drain), and what it receives then it runs before it exits. Once the shutdown has
begun (`stop_receiving`, called from Celery's `worker_shutting_down`), the channel asks for nothing more, and what a
receive already under way brings back is handed back at once instead of started.

Waking: while the prefetch window is full (the pool is running what it holds) kombu's loop finds nothing it may
take and asks again after `polling_interval` (10 ms): a hundred wake-ups a second, each taking a core from the
model for a moment, a large share of the worker main process's CPU under load. Here the consumer waits instead
for the acknowledgement or rejection that makes room in the window (the pool's result thread makes it), at most
ROOM_WAIT_SECONDS at a time, so that Celery's loop still goes round for its own checks.

Received, not yet delivered: kombu hands a received batch to Celery one message at a time, and with a prefork pool
each hand-over waits for a free pool process. Until a message reaches Celery it is in no delivery list kombu keeps:
the channel keeps it (`_received`), so the heartbeat extends it while it waits. One still there when the consumer
receives again, or when the channel closes, was never going to be delivered (an error or the shutdown ended the
hand-over loop): it is handed back at once, neither left invisible nor extended for as long as the worker lives.

Batches: with a prefetch window (WORKER_PREFETCH, 10 by default) a receive brings up to ten messages, and the
channel receives again only once the window has drained to what the pool is running (`HeldMessages.can_consume`):
one receive per batch, not one per message as the window refills one slot at a time. Acknowledged messages are
deleted ten at a time with DeleteMessageBatch: when ten are waiting, when nothing else is held (the end of a burst:
a long poll may be under way), before the next receive, at every heartbeat and when the channel closes. A worker
that dies first leaves them to come back after the visibility timeout and be classified again; recording ignores
the second result (at-least-once, as before). On the queues named by the `tasks_delete` transport option the tasks
delete their own messages, after their reports are sent (classifier/worker/outbox.py): an acknowledgement there
only frees the prefetch slot. The last message of each receive is marked (`ends_receive` in its delivery info), so
a task knows when no more of its batch is coming (`deleted_by_task` marks the messages the task deletes itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from kombu.transport import SQS

from common.outages import OutageLog
from common.sqs_batches import SQS_BATCH_SIZE, delete_finished, in_batches
from fastpaths.botocore_sqs import DirectSQS

logger = logging.getLogger(__name__)

# The longest the consumer waits for room in its window before Celery's loop goes round again (its own checks: a
# shutdown, pending operations).
ROOM_WAIT_SECONDS = 1.0

# Set once in a worker's main process when its warm shutdown begins; never cleared (the process is ending).
_shutting_down = threading.Event()


def held_by_task(properties: dict[str, Any] | None) -> tuple[str, str, bool] | None:
    """The SQS message behind a running task (from the properties Celery hands it), where this transport left its
    deletion to the task (`tasks_delete`): its receipt handle, its queue's URL, and whether it ends its receive. None
    where the transport deletes it on acknowledgement (kombu's own) or outside a worker. The layout is kombu's
    (`Channel._envelope_payload`, held by the guards)."""
    info = (properties or {}).get("delivery_info") or {}
    if not info.get("deleted_by_task"):
        return None
    try:
        return info["sqs_message"]["ReceiptHandle"], info["sqs_queue"], bool(info.get("ends_receive"))
    except (KeyError, TypeError):
        return None


def stop_receiving() -> None:
    """The worker is shutting down warm: its consumers take no more messages (see the module's docstring)."""
    _shutting_down.set()


class HeldMessages(SQS.QoS):
    """The channel's unacknowledged deliveries, behind a lock the heartbeat shares: a message is never extended in
    the moment it is handed back (that would hide it for another timeout), and the consumer thread never changes
    the deliveries while the heartbeat reads them. An acknowledgement takes the lock only to wake a consumer waiting
    for room (module docstring, Waking): kombu deletes the message before it forgets the delivery, and extending a
    deleted message does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.RLock()
        self._room = threading.Condition(self.lock)

    def can_consume(self) -> bool:
        """With a window of several messages, receive again only once it has drained to a tenth of it (what the pool
        runs meanwhile): a receive then fills it in one call instead of one slot per call."""
        return not self.prefetch_count or self.unacked() <= self.prefetch_count // 10

    def wait_for_room(self, timeout: float) -> bool:
        """Wait until the consumer may receive again (an acknowledgement or a rejection drained the window), at most
        `timeout` seconds; whether it may."""
        with self._room:
            return self._room.wait_for(self.can_consume, timeout)

    def ack(self, delivery_tag: str) -> None:
        with self.lock:
            super().ack(delivery_tag)
            self._made_room()

    def _made_room(self) -> None:
        if self.can_consume():
            self._room.notify_all()

    def unacked(self) -> int:
        return len(self._delivered) - len(self._dirty)

    def held(self) -> dict[str, str]:
        """Receipt handle → queue URL of every message received and not yet acknowledged, rejected or restored:
        the deliveries, and what was received but not yet delivered."""
        with self.lock:
            held = dict(self.channel.received())
            held.update(
                (tag, message.delivery_info["sqs_queue"])
                for tag, message in self._delivered.items()
                if tag not in self._dirty and "sqs_queue" in message.delivery_info
            )
            held.update(self.channel.acknowledged())
            return held

    def append(self, message: Any, delivery_tag: str) -> None:
        with self.lock:
            super().append(message, delivery_tag)
            self.channel.delivered(delivery_tag)

    def _flush(self) -> None:
        with self.lock:
            super()._flush()

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        with self.lock:
            super().reject(delivery_tag, requeue=requeue)
            self._made_room()

    def restore_unacked(self) -> list[Any]:
        with self.lock:
            return super().restore_unacked()


class HeartbeatChannel(SQS.Channel):
    QoS = HeldMessages

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._direct: DirectSQS | None = None  # before kombu's own set-up, which may call sqs()
        self._direct_around: Any = None
        super().__init__(*args, **kwargs)
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_stop = threading.Event()
        self._quick_sqs: Any = None
        self._heartbeat_outage = OutageLog(logger, "visibility heartbeat")
        # Receipt handle → queue URL of what a receive brought back and kombu has not yet delivered (module docstring).
        self._received: dict[str, str] = {}
        # Receipt handle → queue URL of what was acknowledged and is not yet deleted (module docstring, Batches).
        self._acknowledged: dict[str, str] = {}

    def sqs(self, queue: str | None = None) -> Any:
        """kombu's client, its receives and batch deletes made directly (fastpaths/botocore_sqs.py): one of each per
        receive of up to ten."""
        client = super().sqs(queue)
        if "botocore_sqs" not in settings.FAST_PATHS:
            return client
        if self._direct is None or self._direct_around is not client:
            self._direct, self._direct_around = DirectSQS.around(client), client
        return self._direct

    def drain_events(self, timeout: float | None = None, callback: Any = None, **kwargs: Any) -> Any:
        """kombu's, but with the window full it waits for the acknowledgement that makes room (module docstring,
        Waking), at most ROOM_WAIT_SECONDS, instead of answering "nothing" at once."""
        if self._consumers and not self.qos.can_consume():
            self.qos.wait_for_room(ROOM_WAIT_SECONDS if timeout is None else min(ROOM_WAIT_SECONDS, timeout))
        return super().drain_events(timeout=timeout, callback=callback, **kwargs)

    @property
    def heartbeat_interval(self) -> float:
        return self.visibility_timeout / 3

    def basic_consume(self, *args: Any, **kwargs: Any) -> Any:
        # Only consumers hold messages: a publishing channel (the web tier's) never starts the thread.
        if self._heartbeat is None:
            # Made here, in the consumer's thread, from the channel's own client: its credentials and endpoint.
            self._quick_sqs = self._new_release_client(self.sqs())
            self._heartbeat = threading.Thread(target=self._beat, name="sqs-visibility-heartbeat", daemon=True)
            self._heartbeat.start()
        return super().basic_consume(*args, **kwargs)

    def close(self) -> None:
        # Stop extending before kombu hands the held messages back, or a late beat could hide them again.
        self._heartbeat_stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=15)
        self.delete_acknowledged()
        self._hand_back_undelivered("received but never delivered")
        super().close()

    def _messages_to_python(self, messages: list[dict[str, Any]], queue: str) -> list[Any]:
        payloads: list[Any] = super()._messages_to_python(messages, queue)
        infos = [payload["properties"]["delivery_info"] for payload in payloads
                 if isinstance(payload, dict) and "delivery_info" in payload.get("properties", {})]  # fmt: skip
        for info in infos:
            info["deleted_by_task"] = queue in self.transport_options.get("tasks_delete", ())
        if infos:
            infos[-1]["ends_receive"] = True  # module docstring, Batches
        return payloads

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        """The task is done: forget the delivery now (its prefetch slot is free) and delete the message with the
        next batch, unless its task deletes it (module docstring, Batches)."""
        with self.qos.lock:
            try:
                info = self.qos.get(delivery_tag).delivery_info
                receipt, queue_url = info["sqs_message"]["ReceiptHandle"], info["sqs_queue"]
            except KeyError:  # not one of ours to delete (kombu's own bookkeeping)
                super().basic_ack(delivery_tag, multiple)
                return
            if info.get("deleted_by_task"):
                self.qos.ack(delivery_tag)
                return
            self._acknowledged[receipt] = queue_url
            self.qos.ack(delivery_tag)
            # Ten make a batch; and the last of a burst goes at once, not after the long poll under way.
            due = len(self._acknowledged) >= SQS_BATCH_SIZE or not (self.qos.unacked() or self._received)
        if due:
            self.delete_acknowledged()

    def acknowledged(self) -> dict[str, str]:
        """Receipt handle → queue URL of what was acknowledged and not yet deleted (call it under `qos.lock`)."""
        return self._acknowledged

    def delete_acknowledged(self) -> int:
        """Delete what was acknowledged, ten per call; returns how many were deleted."""
        with self.qos.lock:
            acknowledged, self._acknowledged = self._acknowledged, {}
        return delete_finished(self.sqs(), acknowledged.items()) if acknowledged else 0

    def _hand_back_undelivered(self, why: str) -> None:
        """Called where no hand-over is under way (the consumer's next receive, the channel's close): what is still
        undelivered then never will be (the hand-over loop ended early), so back it goes, rather than be extended
        for as long as this worker lives."""
        with self.qos.lock:
            undelivered, self._received = self._received, {}
        by_queue: dict[str, list[str]] = defaultdict(list)
        for receipt, queue_url in undelivered.items():
            by_queue[queue_url].append(receipt)
        for queue_url, receipts in by_queue.items():
            self._hand_back_received(queue_url, receipts, why)

    def received(self) -> dict[str, str]:
        """Receipt handle → queue URL of what was received and not yet delivered (call it under `qos.lock`)."""
        return self._received

    def delivered(self, receipt: str) -> None:
        """kombu has delivered this message: from now on it is one of the QoS's deliveries."""
        self._received.pop(receipt, None)

    def _beat(self) -> None:
        due = time.monotonic() + self.heartbeat_interval
        while not self._heartbeat_stop.wait(max(0.0, due - time.monotonic())):
            due += self.heartbeat_interval  # a fixed pace: a slow beat does not push the next one back
            try:
                self.delete_acknowledged()
                self.extend_held()
            except (BotoCoreError, ClientError, OSError) as exc:
                # Logged once per outage. A held message survives one failed beat: the next comes before it expires.
                self._heartbeat_outage.failed(exc)
            else:
                self._heartbeat_outage.succeeded()

    def extend_held(self) -> int:
        """Push back the visibility timeout of every held message; returns how many were extended."""
        by_queue: dict[str, list[str]] = defaultdict(list)
        for receipt, queue_url in self.qos.held().items():
            by_queue[queue_url].append(receipt)
        extended = 0
        for queue_url, receipts in by_queue.items():
            for part in in_batches(receipts):
                if self._heartbeat_stop.is_set():
                    return extended
                with self.qos.lock:  # only what is still held: not one handed back since the list was made
                    still_held = self.qos.held()
                    batch = [receipt for receipt in part if receipt in still_held]
                    extended += self._extend(queue_url, batch) if batch else 0
        return extended

    def _extend(self, queue_url: str, receipts: list[str]) -> int:
        entries = [
            {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": self.visibility_timeout}
            for n, receipt in enumerate(receipts)
        ]
        answer = (self._quick_sqs or self.sqs()).change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        for failure in answer.get("Failed", []):
            # A message acknowledged a moment ago, or one from before the queue was recreated: nothing to keep.
            logger.debug("visibility not extended: %s", failure.get("Message") or failure.get("Code"))
        return len(answer.get("Successful", []))

    def _receive_message(self, queue: str, max_number_of_messages: int = 1,
                         wait_time_seconds: int | None = None) -> dict[str, Any]:  # fmt: skip
        if _shutting_down.is_set():
            return {}  # kombu's loop reads "nothing there" and sleeps until Celery ends it
        self.delete_acknowledged()
        self._hand_back_undelivered("left undelivered by the last receive")
        answer: dict[str, Any] = super()._receive_message(queue, max_number_of_messages, wait_time_seconds)
        if _shutting_down.is_set() and answer.get("Messages"):
            # The long poll was under way when the shutdown began: these were never started, so back they go.
            self._hand_back_received(self._new_queue(queue), [m["ReceiptHandle"] for m in answer["Messages"]],
                                     "received as the shutdown began")  # fmt: skip
            return {}
        if answer.get("Messages") and queue not in self._noack_queues:  # a no-ack queue's are deleted on receipt
            queue_url = self._new_queue(queue)
            with self.qos.lock:
                self._received.update((m["ReceiptHandle"], queue_url) for m in answer["Messages"])
        return answer

    def _hand_back_received(self, queue_url: str, receipts: list[str], why: str) -> None:
        for part in in_batches(receipts):
            entries = [
                {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0} for n, receipt in enumerate(part)
            ]
            try:
                try:
                    (self._quick_sqs or self.sqs()).change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
                except (BotoCoreError, OSError):
                    self.sqs().change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
            except (BotoCoreError, ClientError, OSError) as exc:
                logger.warning("could not hand %d message(s) back at once (%s); they return within %d s",
                               len(entries), exc, self.visibility_timeout)  # fmt: skip
                continue
            logger.info("handed back %d message(s) %s (visible again at once)", len(entries), why)

    def _restore(self, message: Any, unwanted_delivery_info: tuple[str, ...] = ("sqs_message", "sqs_queue")) -> None:
        queue_url = message.delivery_info.get("sqs_queue")
        if queue_url is None:
            super()._restore(message, unwanted_delivery_info)
            return
        hand_back = {"QueueUrl": queue_url, "ReceiptHandle": message.delivery_tag, "VisibilityTimeout": 0}
        try:
            try:
                (self._quick_sqs or self._new_release_client(self.sqs())).change_message_visibility(**hand_back)
            except (BotoCoreError, OSError):
                # The quick client gives up after one 5 s try; a busy endpoint at shutdown deserves the channel's
                # own client, with its retries, before the message is left to its visibility timeout.
                self.sqs().change_message_visibility(**hand_back)
        except (BotoCoreError, ClientError, OSError) as exc:
            # Not raised: the delivery must still be forgotten here, or the heartbeat would keep extending a message
            # nobody runs. Unextended, it is visible again within the visibility timeout.
            logger.warning("could not hand a message back at once (%s); it returns within %d s",
                           exc, self.visibility_timeout)  # fmt: skip
            return
        logger.info("handed back a held message (visible again at once)")


class SynchronousSQSTransport(SQS.Transport):
    Channel = HeartbeatChannel
    implements = SQS.Transport.implements.extend(asynchronous=False)

"""The transport against moto's server: a held message outlives its visibility timeout while its holder lives, and
a handed-back one is visible again at once. Real kombu channels, real SQS calls; the timeout is the shipped one,
which is also the shortest allowed (10 s). tests/integration/test_faults.py shows the same through whole workers."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kombu import Connection, Consumer, Producer, Queue

from stack.embedded import LOCAL_CREDENTIALS

VISIBILITY = 10


@pytest.fixture
def connection(endpoint: str, monkeypatch, settings) -> Iterator[Connection]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.AWS_ENDPOINT_URL = endpoint
    options = {"region": "us-east-1", "wait_time_seconds": 1, "visibility_timeout": VISIBILITY}
    with Connection(
        "sqs://", transport="fastpaths.kombu_sqs:SynchronousSQSTransport", transport_options=options
    ) as conn:
        yield conn


def _raw(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", **{
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})  # fmt: skip


def _hold_one(conn: Connection, name: str) -> tuple[Any, list[Any]]:
    """Publish one message and receive it without acknowledging it (a task in progress)."""
    channel = conn.channel()
    queue = Queue(name, routing_key=name)
    Producer(channel).publish({"n": 1}, routing_key=name, declare=[queue], serializer="json")
    held: list[Any] = []
    consumer = Consumer(channel, queues=[queue], callbacks=[lambda _body, message: held.append(message)],
                        accept=["json"])  # fmt: skip
    consumer.consume()
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=1)
    assert held, "the message never arrived"
    return channel, held


def test_a_held_message_stays_hidden_past_its_timeout_and_a_handed_back_one_is_visible_at_once(
    connection, endpoint
) -> None:
    name = f"heartbeat-{uuid.uuid4().hex[:8]}"
    channel, _held = _hold_one(connection, name)
    sqs = _raw(endpoint)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": str(VISIBILITY)
    }

    time.sleep(VISIBILITY * 1.6)  # without the heartbeat the message would be visible again by now
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    assert channel.qos.held(), "still held, not acknowledged"

    started = time.monotonic()
    channel.close()  # a warm shutdown: what the channel holds goes back
    back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert len(back.get("Messages", [])) == 1
    assert time.monotonic() - started < 3  # at once, not after a visibility timeout


def test_an_acknowledged_message_is_deleted_and_no_longer_extended(connection, endpoint) -> None:
    name = f"heartbeat-{uuid.uuid4().hex[:8]}"
    channel, held = _hold_one(connection, name)
    assert channel.extend_held() == 1
    held[0].ack()  # nothing else is held: the end of a burst is deleted at once
    assert channel.qos.can_consume()
    assert channel.qos.held() == {}
    assert channel.extend_held() == 0
    assert _visible(endpoint, name) == ("0", "0")
    channel.close()


def test_a_hand_back_that_fails_still_forgets_the_delivery(connection, endpoint, monkeypatch) -> None:
    """Else the heartbeat would extend, for as long as the worker lives, a message nobody runs."""
    from botocore.exceptions import EndpointConnectionError

    name = f"heartbeat-{uuid.uuid4().hex[:8]}"
    channel, held = _hold_one(connection, name)

    def unreachable(**kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url=endpoint)

    monkeypatch.setattr(channel._quick_sqs, "change_message_visibility", unreachable)
    monkeypatch.setattr(channel.sqs(), "change_message_visibility", unreachable)
    held[0].requeue()  # what Celery does with the task of a pool process that died
    assert channel.qos.held() == {}
    assert channel.extend_held() == 0
    channel.close()


def test_a_hand_back_the_quick_client_cannot_make_goes_through_the_channel_client(connection, endpoint,
                                                                                  monkeypatch) -> None:  # fmt: skip
    """The quick client tries once for 5 s; a busy endpoint at shutdown still gets the message back at once."""
    from botocore.exceptions import ReadTimeoutError

    name = f"heartbeat-{uuid.uuid4().hex[:8]}"
    channel, held = _hold_one(connection, name)

    def timed_out(**kwargs: Any) -> None:
        raise ReadTimeoutError(endpoint_url=endpoint)

    monkeypatch.setattr(channel._quick_sqs, "change_message_visibility", timed_out)
    held[0].requeue()
    sqs = _raw(endpoint)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert visible["ApproximateNumberOfMessages"] == "1"
    channel.close()


def _publish_and_drain(conn: Connection, name: str) -> tuple[Any, list[Any]]:
    """Publish one message, then let a consumer drain for a few seconds; returns the channel and what it got."""
    channel = conn.channel()
    queue = Queue(name, routing_key=name)
    Producer(channel).publish({"n": 1}, routing_key=name, declare=[queue], serializer="json")
    got: list[Any] = []
    Consumer(channel, queues=[queue], callbacks=[lambda _body, message: got.append(message)], accept=["json"]).consume()
    deadline = time.monotonic() + 3
    while not got and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=1)
    return channel, got


def _visible(endpoint: str, name: str) -> tuple[str, str]:
    sqs = _raw(endpoint)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]


def test_a_worker_shutting_down_takes_nothing_more(connection, endpoint, monkeypatch) -> None:
    from fastpaths import kombu_sqs as broker

    monkeypatch.setattr(broker, "_shutting_down", threading.Event())
    broker.stop_receiving()
    name = f"shutdown-{uuid.uuid4().hex[:8]}"
    channel, got = _publish_and_drain(connection, name)
    assert got == []
    assert _visible(endpoint, name) == ("1", "0")
    channel.close()


def test_what_a_receive_under_way_brings_back_as_the_shutdown_begins_is_handed_back_at_once(
    connection, endpoint, monkeypatch
) -> None:
    from kombu.transport import SQS

    from fastpaths import kombu_sqs as broker

    monkeypatch.setattr(broker, "_shutting_down", threading.Event())
    receive = SQS.Channel._receive_message

    def sigterm_during_the_long_poll(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = receive(self, *args, **kwargs)
        if answer.get("Messages"):
            broker.stop_receiving()
        return answer

    monkeypatch.setattr(SQS.Channel, "_receive_message", sigterm_during_the_long_poll)
    name = f"shutdown-{uuid.uuid4().hex[:8]}"
    channel, got = _publish_and_drain(connection, name)
    assert got == []  # not delivered, so never started
    assert _visible(endpoint, name) == ("1", "0")  # and visible again at once, not after the visibility timeout
    channel.close()


def test_a_received_batch_is_held_until_delivered_and_what_was_never_delivered_is_handed_back_at_close(
    connection, endpoint
) -> None:
    """kombu hands a received batch over one message at a time (each waiting for a free pool process): the ones
    still waiting are extended by the heartbeat, and a shutdown that ends the hand-over leaves none invisible."""
    name = f"batch-{uuid.uuid4().hex[:8]}"
    channel = connection.channel()
    queue = Queue(name, routing_key=name)
    producer = Producer(channel)
    for n in range(2):
        producer.publish({"n": n}, routing_key=name, declare=[queue], serializer="json")
    held_at_first_delivery: list[dict[str, str]] = []

    class ShutdownDuringHandOver(Exception):
        pass

    def first_delivery(_body: Any, _message: Any) -> None:
        held_at_first_delivery.append(channel.qos.held())
        raise ShutdownDuringHandOver  # the hand-over loop ends here: the second message is never delivered

    Consumer(channel, queues=[queue], callbacks=[first_delivery], accept=["json"]).consume()
    deadline = time.monotonic() + 10
    while not held_at_first_delivery and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError, ShutdownDuringHandOver):
            connection.drain_events(timeout=1)
    assert held_at_first_delivery, "nothing arrived"
    assert len(held_at_first_delivery[0]) == 2  # the one delivered and the one waiting for its turn
    assert channel.extend_held() == 2
    assert _visible(endpoint, name) == ("0", "2")

    channel.close()
    assert _visible(endpoint, name) == ("2", "0")  # both back at once: the delivered one and the never delivered one


def test_what_an_ended_hand_over_left_undelivered_goes_back_at_the_next_receive(connection, endpoint) -> None:
    """Not extended for as long as the worker lives: the next receive hands it back, and it is delivered again."""
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    channel = connection.channel()
    queue = Queue(name, routing_key=name)
    producer = Producer(channel)
    for n in range(2):
        producer.publish({"n": n}, routing_key=name, declare=[queue], serializer="json")
    bodies: list[Any] = []

    class HandOverError(Exception):
        pass

    def deliver(body: Any, _message: Any) -> None:
        bodies.append(body)
        if len(bodies) == 1:
            raise HandOverError  # the loop over the received batch ends here, the second message still in it

    Consumer(channel, queues=[queue], callbacks=[deliver], accept=["json"]).consume()
    deadline = time.monotonic() + 15
    while len(bodies) < 2 and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError, HandOverError):
            connection.drain_events(timeout=1)
    assert sorted(body["n"] for body in bodies) == [0, 1]  # the second came back at once, not after 10 s
    assert channel.received() == {}
    channel.close()


def _publish(channel: Any, name: str, count: int) -> Queue:
    queue = Queue(name, routing_key=name)
    producer = Producer(channel)
    for n in range(count):
        producer.publish({"n": n}, routing_key=name, declare=[queue], serializer="json")
    return queue


def _drain_until(conn: Connection, done: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=1)


def _window_of_ten(conn: Connection, name: str, published: int, received: int) -> tuple[Any, list[Any]]:
    """`published` messages on a new queue, consumed with a prefetch window of ten until `received` have arrived."""
    channel = conn.channel()
    queue = _publish(channel, name, published)
    channel.basic_qos(0, 10, False)
    got: list[Any] = []
    Consumer(channel, queues=[queue], callbacks=[lambda _body, message: got.append(message)], accept=["json"]).consume()
    _drain_until(conn, lambda: len(got) == received)
    return channel, got


def test_a_window_of_ten_is_filled_by_one_receive_and_refilled_only_once_it_has_drained(
    connection, endpoint, monkeypatch
) -> None:
    from kombu.transport import SQS

    name = f"window-{uuid.uuid4().hex[:8]}"
    receives: list[int] = []
    receive = SQS.Channel._receive_message

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = receive(self, *args, **kwargs)
        receives.append(len(answer.get("Messages", [])))
        return answer

    monkeypatch.setattr(SQS.Channel, "_receive_message", counted)
    channel, got = _window_of_ten(connection, name, published=25, received=10)
    assert (receives, len(got)) == ([10], 10)
    for message in got[:8]:
        message.ack()
    assert not channel.qos.can_consume()  # two still unacknowledged: no receive of two
    got[8].ack()
    assert channel.qos.can_consume()  # one left, the one the pool runs: receive the next nine meanwhile
    _drain_until(connection, lambda: len(got) == 19)
    assert receives == [10, 9]
    channel.close()


def test_acknowledged_messages_are_deleted_in_batches(connection, endpoint, monkeypatch) -> None:
    """Before the next receive, at the end of a burst and when the channel closes; until then they stay hidden."""
    name = f"deletes-{uuid.uuid4().hex[:8]}"
    channel, got = _window_of_ten(connection, name, published=14, received=10)
    batches: list[int] = []
    delete_batch = channel.sqs().delete_message_batch

    def counted(**kwargs: Any) -> Any:
        batches.append(len(kwargs["Entries"]))
        return delete_batch(**kwargs)

    monkeypatch.setattr(channel.sqs(), "delete_message_batch", counted)
    monkeypatch.setattr(channel.sqs(), "delete_message", lambda **kwargs: pytest.fail("deleted one by one"))
    for message in got[:9]:
        message.ack()
    assert batches == []  # nine wait for the next receive, the tenth or the end of the burst
    assert _visible(endpoint, name) == ("4", "10")
    _drain_until(connection, lambda: len(got) == 14)  # the receive deletes the nine first
    assert batches == [9]
    for message in got[9:12]:
        message.ack()
    assert batches == [9]  # two are still held
    for message in got[12:]:
        message.ack()
    assert batches == [9, 5]  # the end of the burst
    assert _visible(endpoint, name) == ("0", "0")
    channel.close()


def test_what_was_acknowledged_is_deleted_when_the_channel_closes(connection, endpoint) -> None:
    """A warm shutdown: the finished ones deleted, the one never run handed back."""
    name = f"closing-{uuid.uuid4().hex[:8]}"
    channel, got = _window_of_ten(connection, name, published=3, received=3)
    got[0].ack()
    got[1].ack()
    assert _visible(endpoint, name) == ("0", "3")
    channel.close()
    assert _visible(endpoint, name) == ("1", "0")


def test_on_a_tasks_delete_queue_an_acknowledgement_deletes_nothing_and_a_receive_s_last_message_is_marked(
    endpoint, monkeypatch, settings
) -> None:
    """There the task deletes its message after its report is sent (classifier/worker/outbox.py)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for variable, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(variable, value)
    name = f"own-{uuid.uuid4().hex[:8]}"
    options = {"region": "us-east-1", "wait_time_seconds": 1, "visibility_timeout": VISIBILITY, "tasks_delete": [name]}
    with Connection(
        "sqs://", transport="fastpaths.kombu_sqs:SynchronousSQSTransport", transport_options=options
    ) as conn:
        channel, got = _window_of_ten(conn, name, published=3, received=3)
        assert [message.delivery_info.get("ends_receive", False) for message in got] == [False, False, True]
        assert all(message.delivery_info["deleted_by_task"] for message in got)
        for message in got:
            message.ack()
        assert channel.qos.held() == {} and channel.qos.can_consume()
        assert _visible(endpoint, name) == ("0", "3")  # still there, hidden, for their tasks to delete
        channel.close()


def test_with_its_window_full_the_consumer_waits_for_room_instead_of_asking_again_and_again(
    connection, endpoint, monkeypatch
) -> None:
    """kombu's loop answers "nothing" while the window is full and asks again after its polling interval: a hundred
    wake-ups a second beside the model at the shipped 10 ms. The channel waits for room instead."""
    name = f"room-{uuid.uuid4().hex[:8]}"
    channel, got = _window_of_ten(connection, name, published=20, received=10)
    asked: list[bool] = []
    can_consume = channel.qos.can_consume
    monkeypatch.setattr(channel.qos, "can_consume", lambda: asked.append(can_consume()) or asked[-1])
    monkeypatch.setattr(connection.transport, "polling_interval", 0.01)
    with pytest.raises(TimeoutError):
        connection.drain_events(timeout=0.5)
    assert len(got) == 10 and len(asked) < 5, asked  # one wait, not fifty looks


def test_the_acknowledgement_that_makes_room_wakes_the_waiting_consumer_at_once(connection, endpoint) -> None:
    from fastpaths.kombu_sqs import ROOM_WAIT_SECONDS

    name = f"room-{uuid.uuid4().hex[:8]}"
    channel, got = _window_of_ten(connection, name, published=20, received=10)

    def finish_the_pool_s_work() -> None:
        time.sleep(0.2)
        for message in got[:9]:
            message.ack()  # from another thread, as the worker's result handler acknowledges

    acker = threading.Thread(target=finish_the_pool_s_work)
    started = time.monotonic()
    acker.start()
    try:
        _drain_until(connection, lambda: len(got) == 19)
    finally:
        acker.join()
    assert len(got) == 19
    assert time.monotonic() - started < 0.2 + ROOM_WAIT_SECONDS * 0.6  # woken by the acknowledgement, not the limit
    channel.close()

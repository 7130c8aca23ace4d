"""A queue's depth as SQS reports it: waiting and in flight (the autoscaler, the sweeper and the status page read it).

kombu's `queue_declare(passive=True)` counts only the waiting messages; a message a worker holds still needs it.
"""

from __future__ import annotations

from typing import Any


class SqsQueueDepth:
    def __init__(self, sqs: Any, queue_name: str) -> None:
        self._sqs = sqs
        self._url: str = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]

    def __call__(self) -> tuple[int, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

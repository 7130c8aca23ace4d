"""A queue's depth as SQS reports it: waiting and in flight (the autoscaler, the sweeper and the status page read it).

kombu's `queue_declare(passive=True)` counts only the waiting messages; a message a worker holds still needs it.
The queue's URL is looked up on first use and again after a failed read, so a reader made while the endpoint is
down, or before the queue was (re)created, starts working once it is there.
"""

from __future__ import annotations

from typing import Any

DEPTH = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


class SqsQueueDepth:
    def __init__(self, sqs: Any, queue_name: str) -> None:
        self._sqs = sqs
        self.queue_name = queue_name
        self._url: str | None = None

    def __call__(self) -> tuple[int, int]:
        attributes = self.attributes(DEPTH)
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def created_at(self) -> float:
        """When SQS created the queue (epoch seconds; whole ones from AWS, fractions from moto): a later value means
        it was deleted and created again."""
        return float(self.attributes(["CreatedTimestamp"])["CreatedTimestamp"])

    def attributes(self, names: list[str]) -> dict[str, str]:
        try:
            if self._url is None:
                self._url = self._sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
            attributes: dict[str, str] = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)[
                "Attributes"
            ]
        except Exception:
            self._url = None
            raise
        return attributes

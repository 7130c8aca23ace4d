"""The classify, results and dead-letter queues, with the attributes deploy/provision.py's one rule gives them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploy.account.reconcile import carries


@dataclass
class Queue:
    sqs: Any
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    kind: str = "queue"

    def describe(self) -> dict[str, Any] | None:
        try:
            url = self.sqs.get_queue_url(QueueName=self.name)["QueueUrl"]
        except self.sqs.exceptions.QueueDoesNotExist:
            return None
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        return {"url": url, "attributes": attributes, "tags": tags}

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = [f"{key}={value}" for key, value in self.attributes.items()
                 if not _same(key, current["attributes"].get(key), value)]  # fmt: skip
        if not carries(current["tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        url = self.sqs.create_queue(QueueName=self.name, Attributes=self.attributes, tags=self.tags)["QueueUrl"]
        return {"url": url, "attributes": dict(self.attributes), "tags": dict(self.tags)}

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        self.sqs.set_queue_attributes(QueueUrl=current["url"], Attributes=self.attributes)
        self.sqs.tag_queue(QueueUrl=current["url"], Tags=self.tags)
        return {**current, "attributes": {**current["attributes"], **self.attributes},
                "tags": {**current["tags"], **self.tags}}  # fmt: skip

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["url"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.sqs.delete_queue(QueueUrl=current["url"])


def _same(key: str, current: str | None, desired: str) -> bool:
    if key == "RedrivePolicy" and current:
        # SQS may answer with its own spacing and maxReceiveCount as a string.
        have, want = json.loads(current), json.loads(desired)
        return have["deadLetterTargetArn"] == want["deadLetterTargetArn"] and str(have["maxReceiveCount"]) == str(
            want["maxReceiveCount"]
        )
    return current == desired

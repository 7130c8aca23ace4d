"""A pool process's finished work: reports sent in one call, then their messages deleted in one call, never the
other way round, and nothing deleted whose report did not go."""

from __future__ import annotations

import time
from typing import Any

from classifier.worker.outbox import FLUSH_WITHIN_SECONDS, HeldMessage, Outbox, held_message

CLASSIFY = "http://sqs/classify"


class RecordingSQS:
    def __init__(self, refuse_reports: bool = False, fail_ids: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.refuse_reports = refuse_reports
        self.fail_ids = fail_ids

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        return {"QueueUrl": f"http://sqs/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        if self.refuse_reports:
            raise ConnectionError("endpoint down")
        self.calls.append(("send", [entry["MessageBody"] for entry in Entries]))
        return {
            "Successful": [{"Id": entry["Id"]} for entry in Entries if entry["MessageBody"] not in self.fail_ids],
            "Failed": [{"Id": entry["Id"], "Code": "x"} for entry in Entries if entry["MessageBody"] in self.fail_ids],
        }

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(("delete", [entry["ReceiptHandle"] for entry in Entries]))
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def _held(n: int, last: bool = False) -> HeldMessage:
    return HeldMessage(f"receipt-{n}", CLASSIFY, last)


def test_a_receive_s_batch_goes_when_its_last_message_is_done_reports_first() -> None:
    sqs = RecordingSQS()
    outbox = Outbox(sqs)
    for n in range(3):
        outbox.finish(_held(n, last=n == 2), (f"r{n}", f"report-{n}"))
        if n < 2:
            assert sqs.calls == []
    assert sqs.calls == [("send", ["report-0", "report-1", "report-2"]),
                         ("delete", ["receipt-0", "receipt-1", "receipt-2"])]  # fmt: skip


def test_ten_go_together_and_a_stray_one_goes_within_a_second() -> None:
    sqs = RecordingSQS()
    outbox = Outbox(sqs)
    for n in range(11):
        outbox.finish(_held(n), (f"r{n}", f"report-{n}"))
    assert [kind for kind, _ in sqs.calls] == ["send", "delete"] and len(sqs.calls[0][1]) == 10
    deadline = time.monotonic() + FLUSH_WITHIN_SECONDS + 2
    while len(sqs.calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sqs.calls[2:] == [("send", ["report-10"]), ("delete", ["receipt-10"])]


def test_nothing_is_deleted_whose_report_did_not_go() -> None:
    refused = RecordingSQS(refuse_reports=True)
    Outbox(refused).finish(_held(0, last=True), ("r0", "report-0"))
    assert refused.calls == []  # the message comes back by its visibility timeout
    partly = RecordingSQS(fail_ids=frozenset({"report-1"}))
    outbox = Outbox(partly)
    outbox.finish(_held(0), ("r0", "report-0"))
    outbox.finish(_held(1, last=True), ("r1", "report-1"))
    assert partly.calls == [("send", ["report-0", "report-1"]), ("delete", ["receipt-0"])]


def test_a_retried_request_s_message_is_only_deleted() -> None:
    sqs = RecordingSQS()
    Outbox(sqs).finish(_held(0, last=True), None)
    assert sqs.calls == [("delete", ["receipt-0"])]


def test_the_held_message_comes_from_the_properties_celery_hands_the_task() -> None:
    properties = {"delivery_info": {"sqs_message": {"ReceiptHandle": "h"}, "sqs_queue": CLASSIFY, "ends_receive": True}}
    assert held_message(properties) == HeldMessage("h", CLASSIFY, True)
    assert held_message({"delivery_info": {}}) is None
    assert held_message(None) is None

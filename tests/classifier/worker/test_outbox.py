"""A pool process's finished work: the batch's reports sent as one message, then their messages deleted in one call,
never the other way round, and nothing deleted whose report did not go."""

from __future__ import annotations

import time
from typing import Any

import pytest

from classifier import contract
from classifier.contract import Kind, Outgoing
from classifier.worker import outbox as outbox_module
from classifier.worker.outbox import FLUSH_WITHIN_SECONDS, HeldMessage, Outbox, held_message

CLASSIFY = "http://sqs/classify"


class RecordingSQS:
    """Records each call as ("send", [request ids of each message's reports]) or ("delete", [receipts])."""

    def __init__(self, refuse_reports: bool = False, fail_requests: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.refuse_reports = refuse_reports
        self.fail_requests = fail_requests

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        return {"QueueUrl": f"http://sqs/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        if self.refuse_reports:
            raise ConnectionError("endpoint down")
        carried = [_requests_in(entry["MessageBody"]) for entry in Entries]
        self.calls.append(("send", carried))
        failed = [entry for entry, ids in zip(Entries, carried, strict=True) if set(ids) & self.fail_requests]
        return {
            "Successful": [{"Id": entry["Id"]} for entry in Entries if entry not in failed],
            "Failed": [{"Id": entry["Id"], "Code": "x"} for entry in failed],
        }

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(("delete", [entry["ReceiptHandle"] for entry in Entries]))
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def _requests_in(body: str) -> list[str]:
    return [report.request_id for report in contract.decode(body)]


def _held(n: int, last: bool = False) -> HeldMessage:
    return HeldMessage(f"receipt-{n}", CLASSIFY, last)


def _result(n: int, *args: Any) -> Outgoing:
    return Outgoing(Kind.RESULT, f"r{n}", args or ({"label": f"label {n}"},))


def test_a_receive_s_batch_goes_when_its_last_message_is_done_its_reports_in_one_message_first() -> None:
    sqs = RecordingSQS()
    outbox = Outbox(sqs)
    for n in range(3):
        outbox.finish(_held(n, last=n == 2), _result(n))
        if n < 2:
            assert sqs.calls == []
    assert sqs.calls == [("send", [["r0", "r1", "r2"]]),
                         ("delete", ["receipt-0", "receipt-1", "receipt-2"])]  # fmt: skip


def test_ten_go_together_and_a_stray_one_goes_within_a_second() -> None:
    sqs = RecordingSQS()
    outbox = Outbox(sqs)
    for n in range(11):
        outbox.finish(_held(n), _result(n))
    assert sqs.calls[0] == ("send", [[f"r{n}" for n in range(10)]]) and len(sqs.calls[1][1]) == 10
    deadline = time.monotonic() + FLUSH_WITHIN_SECONDS + 2
    while len(sqs.calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sqs.calls[2:] == [("send", [["r10"]]), ("delete", ["receipt-10"])]


def test_nothing_is_deleted_whose_report_did_not_go() -> None:
    refused = RecordingSQS(refuse_reports=True)
    Outbox(refused).finish(_held(0, last=True), _result(0))
    assert refused.calls == []  # the message comes back by its visibility timeout
    partly = RecordingSQS(fail_requests=frozenset({"r1"}))
    outbox = Outbox(partly)
    outbox.finish(_held(0), _result(0))
    outbox.finish(_held(1, last=True), _result(1))
    assert partly.calls == [("send", [["r0", "r1"]])]  # one message: neither went, neither is deleted


def test_reports_too_large_for_one_message_go_as_several_and_each_message_s_requests_are_deleted_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox_module, "MAX_MESSAGE_BYTES", 3000)
    sqs = RecordingSQS(fail_requests=frozenset({"r3"}))
    outbox = Outbox(sqs)
    for n in range(4):
        outbox.finish(_held(n, last=n == 3), _result(n, {"label": "x" * 800}))
    sends = [ids for kind, ids in sqs.calls if kind == "send"]
    assert [request for call in sends for message in call for request in message] == ["r0", "r1", "r2", "r3"]
    assert all(len(call) == 1 for call in sends) and len(sends) > 1  # one message per call once they are split
    assert sqs.calls[-1] == ("delete", [f"receipt-{n}" for n in range(4) if f"r{n}" not in sends[-1][0]])


def test_a_retried_request_s_message_is_only_deleted() -> None:
    sqs = RecordingSQS()
    Outbox(sqs).finish(_held(0, last=True), None)
    assert sqs.calls == [("delete", ["receipt-0"])]


def test_the_held_message_comes_from_the_properties_celery_hands_the_task() -> None:
    info = {"sqs_message": {"ReceiptHandle": "h"}, "sqs_queue": CLASSIFY, "ends_receive": True, "deleted_by_task": True}
    assert held_message({"delivery_info": info}) == HeldMessage("h", CLASSIFY, True)
    assert held_message({"delivery_info": {}}) is None
    assert held_message(None) is None


def test_a_message_the_transport_deletes_itself_is_not_held_by_the_task() -> None:
    """kombu's own transport (FAST_PATHS off) deletes a message when its task is acknowledged: the task sends its
    report before it returns, and leaves the message alone."""
    info = {"sqs_message": {"ReceiptHandle": "h"}, "sqs_queue": CLASSIFY, "ends_receive": True}
    assert held_message({"delivery_info": info}) is None

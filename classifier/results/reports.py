"""The workers' reports as the results consumer receives them: each report of a results-queue message (the format is
classifier/contract.py's), with what SQS says of the message that carried it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from classifier.contract import Kind, decode


@dataclass(frozen=True)
class Report:
    """One report received from the results queue."""

    kind: Kind
    request_id: str
    args: tuple[Any, ...]  # its kind's fields, after the request id (classifier/contract.py FIELDS)
    receipt: str  # SQS's handle of its message, to delete the message or put it back
    receives: int  # how many times SQS has handed this message out, this time included


def read(message: dict[str, Any]) -> list[Report]:
    """The reports a received SQS message carries; UnreadableReport (classifier/contract.py), saying why, if none."""
    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    return [
        Report(report.kind, report.request_id, report.args, message["ReceiptHandle"], receives)
        for report in decode(message["Body"])
    ]

"""The results consumer on a backlog: results waiting on the queue (as after an outage, or behind a large fleet) and
the consumer started again. How fast it records them and at what CPU and SQS cost per result: the steady burst of
the stack run never lets a backlog build, so its per-result cost at depth is measured here."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench import measure
from bench.scratch import stack_folder


@dataclass(frozen=True)
class Drain:
    results_per_second: float
    cpu_ms_per_result: float
    sqs_calls_per_result: float


def results_backlog(count: int) -> Drain:
    """`count` results waiting on the results queue (the consumer stopped meanwhile, as after an outage or behind a
    large fleet), then the consumer started again: how fast it records them, and at what cost."""
    from classifier.contract import Kind, ResultPayload
    from classifier.models import Classification, Status
    from classifier.worker.job import now_iso
    from classifier.worker.outbox import send_now
    from stack.local import LocalStack
    from stack.processes import free_port

    scratch = stack_folder()
    stack = LocalStack(web_port=free_port(), workers=0, log_dir=scratch)
    stack.start()
    try:
        stack.process("results-consumer").stop()
        os.environ.update(stack.child_env())  # this process sends the reports, to the stack's endpoint
        rows = Classification.objects.bulk_create(
            Classification(original_name=f"{n}.JPEG", input_key=f"k/{n}.JPEG") for n in range(count)
        )
        at = now_iso()
        for row in rows:
            top5 = [{"class_id": 323, "label": "monarch butterfly", "probability": 0.84}]
            result = ResultPayload(label="monarch butterfly", class_id=323, top5=top5, model_name="efficientnet_lite0",
                                   model_version="bench", inference_ms=15.0, output_key=f"out/{row.pk}",
                                   worker="bench@host", started_at=at, finished_at=at)  # fmt: skip
            send_now(Kind.RESULT, str(row.pk), result)
        consumer = stack.respawn("results-consumer")
        recorded = Classification.objects.filter(pk__in=[row.pk for row in rows], status=Status.DONE)
        deadline = time.perf_counter() + 300
        while not recorded.exists():  # the consumer's start-up (Django, boto3) is not what is measured
            _before(deadline, "the consumer's first result")
            time.sleep(0.01)
        first = recorded.count()
        started, cpu_before = time.perf_counter(), measure.cpu_seconds(measure.tree(consumer.pid))
        calls_before = measure.sqs_calls(scratch / "aws-endpoint.log")
        while (done := recorded.count()) < count:
            _before(deadline, f"all {count} results ({done} recorded)")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        cpu = measure.cpu_seconds(measure.tree(consumer.pid)) - cpu_before
        calls = measure.sqs_calls(scratch / "aws-endpoint.log") - calls_before
        return Drain((count - first) / wall, cpu * 1000 / (count - first), calls / (count - first))
    finally:
        stack.stop()


def _before(deadline: float, what: str) -> None:
    if time.perf_counter() > deadline:
        raise RuntimeError(f"timed out waiting for {what}")

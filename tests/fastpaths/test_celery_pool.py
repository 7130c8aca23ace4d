"""A receive's classify requests go to the pool as one job; each still hears Celery's own calls, and a job that fails
as a whole goes again one request per job. The real pool's side of it (a pool process killed, poison images) is in
tests/integration/test_faults.py."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError

from classifier.worker import handover
from fastpaths import celery_pool
from fastpaths.celery_pool import HandOver, ends_receive, shares


class Request:
    """The parts of Celery's worker Request the hand-over uses."""

    def __init__(self, rid: str, *, last: bool = False, task_name: str = handover.TASK, limit: float = 90) -> None:
        self.id = self.task_id = rid
        self.task_name = task_name
        self.type, self.body, self.content_type, self.content_encoding = task_name, f"body {rid}", "json", "utf-8"
        delivery = {"sqs_message": {"ReceiptHandle": f"h-{rid}"}, "sqs_queue": "q", "ends_receive": last}
        self.request_dict = {"id": rid, "properties": {"delivery_info": delivery}}
        self.time_limits = (None, None)
        self.task = SimpleNamespace(time_limit=limit)
        self.app = SimpleNamespace(use_fast_trace_task=True)
        self.calls: list[tuple[str, Any]] = []

    def on_accepted(self, pid: int, time_accepted: float) -> None:
        self.calls.append(("accepted", pid))

    def on_success(self, result: Any) -> None:
        self.calls.append(("success", result))


class Pool:
    """Records each job; `num_processes` as Celery's TaskPool has it."""

    def __init__(self, processes: int = 1) -> None:
        self.num_processes = processes
        self.jobs: list[dict[str, Any]] = []

    def apply_async(self, target: Any, args: tuple[Any, ...], **options: Any) -> None:
        self.jobs.append({"target": target, "args": args, **options})


def _hand_over(processes: int = 1) -> tuple[HandOver, Pool, list[Any]]:
    pool, alone = Pool(processes), []
    return HandOver(alone.append, SimpleNamespace(pool=pool), handover.TASK, handover.run_requests), pool, alone


def _ids(job: dict[str, Any]) -> list[str]:
    return [traced[1] for traced in job["args"][1]]


def test_a_receive_goes_as_one_job_when_its_last_request_arrives() -> None:
    hand_over, pool, alone = _hand_over()
    requests = [Request(f"r{n}", last=n == 2) for n in range(3)]
    for request in requests[:2]:
        hand_over(request)
    assert pool.jobs == []
    hand_over(requests[2])
    assert [_ids(job) for job in pool.jobs] == [["r0", "r1", "r2"]] and alone == []
    job = pool.jobs[0]
    assert job["target"] is handover.run_requests and job["args"][0] is True  # Celery's fast tracer, as it chose
    assert job["args"][1][0] == ("classifier.classify", "r0", requests[0].request_dict, "body r0", "json", "utf-8")
    assert job["timeout"] == 90 and job["soft_timeout"] == 0  # one request's hard limit; 0 is none to billiard


def test_each_request_hears_celery_s_own_calls_for_its_own_outcome() -> None:
    hand_over, pool, _ = _hand_over()
    requests = [Request("a"), Request("b", last=True)]
    for request in requests:
        hand_over(request)
    job = pool.jobs[0]
    job["accept_callback"](4242, time.monotonic())
    job["callback"]([(0, "done a", 0.01), (1, "failed b", 0.02)])
    assert requests[0].calls == [("accepted", 4242), ("success", (0, "done a", 0.01))]
    assert requests[1].calls == [("accepted", 4242), ("success", (1, "failed b", 0.02))]  # Celery reads the failure


def test_a_request_alone_and_other_tasks_go_celery_s_way_at_once() -> None:
    hand_over, pool, alone = _hand_over()
    lone, other = Request("lone", last=True), Request("other", task_name="classifier.something_else")
    hand_over(lone)
    hand_over(other)
    assert alone == [lone, other] and pool.jobs == []


def test_a_job_that_fails_as_a_whole_goes_again_one_request_per_job() -> None:
    hand_over, pool, alone = _hand_over()
    requests = [Request("a"), Request("poison"), Request("c", last=True)]
    for request in requests:
        hand_over(request)
    try:
        raise WorkerLostError("Worker exited prematurely: exitcode 1")
    except WorkerLostError:
        pool.jobs[0]["error_callback"](ExceptionInfo())
    deadline = time.monotonic() + 5
    while len(alone) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert alone == requests  # each on its own, so only the poison image's kill counts against it
    assert all(request.calls == [] for request in requests)  # none was failed for the job's death
    assert all(ends_receive(request) for request in alone)  # each report goes as its request ends, taken by no kill


def test_an_answer_that_is_not_one_per_request_sends_them_again_alone() -> None:
    hand_over, pool, alone = _hand_over()
    for request in (Request("a"), Request("b", last=True)):
        hand_over(request)
    pool.jobs[0]["callback"]("something else")
    deadline = time.monotonic() + 5
    while len(alone) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [request.id for request in alone] == ["a", "b"]


def test_requests_not_marked_last_go_within_the_gathering_time() -> None:
    hand_over, pool, _ = _hand_over()
    for rid in ("a", "b"):
        hand_over(Request(rid))  # from the timer (a countdown), say: no receive marks an end
    deadline = time.monotonic() + celery_pool.GATHER_SECONDS + 5
    while not pool.jobs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [_ids(job) for job in pool.jobs] == [["a", "b"]]


def test_ten_go_without_waiting_for_the_end_of_their_receive() -> None:
    hand_over, pool, _ = _hand_over()
    for n in range(celery_pool.MAX_JOB):
        hand_over(Request(f"r{n}"))
    assert len(pool.jobs) == 1 and len(_ids(pool.jobs[0])) == celery_pool.MAX_JOB


def test_a_receive_is_shared_among_the_pool_s_processes() -> None:
    assert shares(list(range(10)), 2) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert shares(list(range(3)), 4) == [[0], [1], [2]]
    assert shares(list(range(7)), 1) == [list(range(7))]
    hand_over, pool, alone = _hand_over(processes=2)
    for n in range(5):
        hand_over(Request(f"r{n}", last=n == 4))
    assert [_ids(job) for job in pool.jobs] == [["r0", "r1", "r2"], ["r3", "r4"]] and alone == []


def test_the_pool_process_classifies_the_job_ahead_then_traces_each_request_then_sends_its_reports(
    monkeypatch,
) -> None:
    steps: list[Any] = []
    monkeypatch.setattr(celery_pool, "fast_trace_task", lambda *arguments: steps.append(arguments[1]) or (0, "ok", 0.1))
    monkeypatch.setattr(handover, "outbox", lambda: SimpleNamespace(flush=lambda: steps.append("flush")))
    monkeypatch.setattr(handover, "ahead", SimpleNamespace(
        classify_job=lambda requests, parameters: steps.append(("ahead", [r["id"] for r in requests], parameters)),
        forget=lambda: steps.append("forget"),
    ))  # fmt: skip
    items = [("classifier.classify", rid, {"id": rid}, "body", "json", "utf-8") for rid in ("a", "b")]
    assert handover.run_requests(True, items) == [(0, "ok", 0.1), (0, "ok", 0.1)]
    parameters = ("request_id", "input_key", "original_name", "expires_at")  # the task's own, read off its signature
    assert steps == [("ahead", ["a", "b"], parameters), "a", "b", "forget", "flush"]


def test_the_end_of_a_receive_is_read_from_the_message_s_delivery_info() -> None:
    assert ends_receive(Request("a", last=True)) and not ends_receive(Request("b"))
    assert not ends_receive(SimpleNamespace(request_dict={}))

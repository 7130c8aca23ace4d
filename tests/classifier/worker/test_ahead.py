"""A job's images are classified ahead of its tasks, and each task still meets its own outcome: its prediction, its
error where reading or classifying would have raised it, its expiry. The real pool's side is in
tests/integration/test_pipeline.py and test_faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from classifier import tasks
from classifier.contract import Kind
from classifier.images import CorruptImage
from classifier.worker import ahead, job
from classifier.worker import outbox as outbox_module

PARAMETERS = ("request_id", "input_key", "original_name", "expires_at")


@pytest.fixture(autouse=True)
def _nothing_left_between_tests() -> Iterator[None]:
    yield
    ahead.forget()


@pytest.fixture
def model(monkeypatch) -> list[str]:
    """The steps, in order: inputs read (`missing` ones raise), images classified (`corrupt` ones raise, the rest are
    monarch butterflies)."""
    steps: list[str] = []

    def read_input(input_key: str) -> bytes:
        steps.append(f"read {input_key}")
        if "missing" in input_key:
            raise FileNotFoundError(input_key)
        return input_key.encode()

    def classify_input(data: bytes, started_at: str) -> job.Classified:
        steps.append(f"classify {data.decode()}")
        if b"corrupt" in data:
            return job.Classified(started_at, error=CorruptImage("the image is corrupt or truncated"))
        best = SimpleNamespace(label="monarch butterfly", class_id=323, as_dict=lambda: {"class_id": 323})
        prediction = SimpleNamespace(best=best, top5=(best,), model_name="m", model_version="v", inference_ms=7.0,
                                     cpu_ms=7.5)  # fmt: skip
        return job.Classified(started_at, prediction=prediction)  # type: ignore[arg-type]

    for module in (ahead, job):
        monkeypatch.setattr(module, "read_input", read_input)
        monkeypatch.setattr(module, "classify_input", classify_input)
    monkeypatch.setattr(job.storage, "outputs", lambda: SimpleNamespace(save=lambda key, content: key))
    return steps


@pytest.fixture
def sent(monkeypatch) -> list[tuple[Kind, tuple[Any, ...]]]:
    sent: list[tuple[Kind, tuple[Any, ...]]] = []
    monkeypatch.setattr(outbox_module, "send_now", lambda kind, *args: sent.append((kind, args)))
    return sent


def _request(rid: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"id": rid, "args": list(args), "kwargs": kwargs, "hostname": "w@h"}


def test_a_job_is_read_and_classified_ahead_from_positional_or_named_arguments(model) -> None:
    positional = _request("a", "a", "a/1.JPEG", "1.JPEG", None)
    named = _request("b", input_key="b/2.JPEG", request_id="b", original_name="2.JPEG")
    ahead.classify_job([positional, named], PARAMETERS)
    assert model == ["read a/1.JPEG", "read b/2.JPEG", "classify a/1.JPEG", "classify b/2.JPEG"]  # each phase whole
    taken = ahead.take("a")
    assert taken is not None and taken.result().best.label == "monarch butterfly"
    assert ahead.take("a") is None  # once: a retry of it classifies again
    ahead.forget()
    assert ahead.take("b") is None  # the job is over


def test_a_request_past_its_time_to_live_is_not_classified_ahead(model) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=3)).isoformat()
    ahead.classify_job([_request("a", "a", "a/1.JPEG", "1.JPEG", past)], PARAMETERS)
    assert model == [] and ahead.take("a") is None


def test_a_task_takes_its_prediction_from_ahead_and_reads_nothing_again(model, sent) -> None:
    ahead.classify_job([_request("a", "a", "a/1.JPEG", "1.JPEG")], PARAMETERS)
    started_at = ahead._classified["a"].started_at
    tasks.classify.run("a", "a/1.JPEG", "1.JPEG")
    assert model == ["read a/1.JPEG", "classify a/1.JPEG"]
    [(kind, (request_id, result))] = sent
    assert (kind, request_id, result["label"], result["started_at"]) == (Kind.RESULT, "a", "monarch butterfly",
                                                                        started_at)  # fmt: skip


def test_errors_met_ahead_are_the_tasks_own(model, sent) -> None:
    ahead.classify_job([_request("c", "c", "c/corrupt.JPEG", "corrupt.JPEG"),
                        _request("m", "m", "m/missing.JPEG", "missing.JPEG")], PARAMETERS)  # fmt: skip
    tasks.classify.run("c", "c/corrupt.JPEG", "corrupt.JPEG")
    tasks.classify.run("m", "m/missing.JPEG", "missing.JPEG")
    assert model == ["read c/corrupt.JPEG", "read m/missing.JPEG", "classify c/corrupt.JPEG"]
    assert [(kind, request_id, reason) for kind, (request_id, reason, *_) in sent] == [
        (Kind.FAILURE, "c", "unreadable image: the image is corrupt or truncated"),
        (Kind.FAILURE, "m", "input object m/missing.JPEG is missing"),
    ]


def test_a_request_classified_ahead_is_not_reported_expired_a_moment_later(model, sent) -> None:
    soon = (datetime.now(UTC) + timedelta(milliseconds=50)).isoformat()
    ahead.classify_job([_request("a", "a", "a/1.JPEG", "1.JPEG", soon)], PARAMETERS)
    tasks.classify.run("a", "a/1.JPEG", "1.JPEG", (datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    assert [kind for kind, _ in sent] == [Kind.RESULT]  # a worker took it in time: its work stands


def test_a_job_whose_inputs_pass_the_held_bytes_is_read_and_classified_in_parts(model, monkeypatch) -> None:
    monkeypatch.setattr(ahead, "HELD_BYTES", len(b"a/1.JPEG") * 2)  # two inputs' worth (the fixture's "bytes")
    ahead.classify_job([_request(r, r, f"{r}/1.JPEG", "1.JPEG") for r in "abc"], PARAMETERS)
    assert model == ["read a/1.JPEG", "read b/1.JPEG", "classify a/1.JPEG", "classify b/1.JPEG",
                     "read c/1.JPEG", "classify c/1.JPEG"]  # fmt: skip

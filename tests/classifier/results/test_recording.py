import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Classification, Status
from classifier.results import recording
from common import metrics
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db


def test_first_result_wins_and_duplicates_are_counted() -> None:
    row = make_request()
    assert recording.record_result(str(row.pk), result_payload()) is True
    assert recording.record_result(str(row.pk), result_payload("tabby cat", "worker-2@host")) is False
    row.refresh_from_db()
    assert row.status == Status.DONE
    assert row.label == "monarch butterfly"
    assert row.worker == "worker-1@host"
    assert row.result_deliveries == 2
    assert row.recorded_at is not None
    assert row.started_at.isoformat() == "2026-11-27T10:00:00+00:00"


def test_started_moves_queued_to_running_only() -> None:
    row = make_request()
    assert recording.record_started(str(row.pk), "w@h", "2026-11-27T10:00:00+00:00") is True
    assert recording.record_started(str(row.pk), "w2@h", "2026-11-27T10:00:05+00:00") is False
    recording.record_result(str(row.pk), result_payload())
    # A start notice that arrives after the result (the results queue is not ordered) changes nothing.
    assert recording.record_started(str(row.pk), "w3@h", "2026-11-27T10:00:09+00:00") is False
    row.refresh_from_db()
    assert (row.status, row.worker) == (Status.DONE, "worker-1@host")


def test_failure_is_final_and_a_late_result_does_not_override_it() -> None:
    row = make_request()
    assert recording.record_failure(str(row.pk), "unreadable image: truncated", "w@h", "2026-11-27T10:00:00+00:00")
    assert recording.record_result(str(row.pk), result_payload()) is False
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.error == "unreadable image: truncated"
    assert row.label == ""


def test_result_for_an_unknown_request_is_dropped() -> None:
    assert recording.record_result(str(uuid.uuid4()), result_payload()) is False
    assert not Classification.objects.exists()


def _batch(rows: list[Classification]) -> list[tuple[str, dict]]:
    return [(str(row.pk), {**result_payload(f"label {index}"), "top5": [{"label": f"label {index}"}]})
            for index, row in enumerate(rows)]  # fmt: skip


def test_a_batch_is_recorded_each_with_its_own_result() -> None:
    rows = [make_request() for _ in range(4)]
    recording.record_started(str(rows[0].pk), "w@h", "2026-11-27T09:59:59+00:00")  # running, still pending

    answers = recording.record_results(_batch(rows))

    assert list(answers) == [str(row.pk) for row in rows]
    assert answers[str(rows[1].pk)] == {
        "id": str(rows[1].pk), "status": "done", "label": "label 1", "error": "", "original_name": rows[1].original_name
    }  # what the waiters of the web processes are answered with (classifier/results/waiting.py)  # fmt: skip

    for index, row in enumerate(rows):
        row.refresh_from_db()
        assert (row.status, row.label, row.top5) == (Status.DONE, f"label {index}", [{"label": f"label {index}"}])
        assert row.result_deliveries == 1 and row.recorded_at is not None and row.error == ""
        assert row.started_at.isoformat() == "2026-11-27T10:00:00+00:00" and row.inference_ms == 25.0


def test_a_batch_costs_the_same_statements_however_many_results_it_holds(django_assert_num_queries) -> None:
    small, large = [make_request() for _ in range(2)], [make_request() for _ in range(10)]
    with CaptureQueriesContext(connection) as two:
        recording.record_results(_batch(small))
    with django_assert_num_queries(len(two.captured_queries)):
        recording.record_results(_batch(large))
    assert Classification.objects.filter(status=Status.DONE).count() == 12


def test_in_a_batch_the_first_result_wins_and_the_rest_are_counted_as_record_result_does() -> None:
    done, failed, waiting = make_request(), make_request(), make_request()
    recording.record_result(str(done.pk), result_payload("first"))
    recording.record_failure(str(failed.pk), "unreadable image", "w@h", "2026-11-27T10:00:00+00:00")
    duplicates = metrics.DUPLICATE_RESULTS._value.get()
    batch = [*_batch([done, failed, waiting]), (str(waiting.pk), result_payload("second")), (str(uuid.uuid4()), {})]

    assert list(recording.record_results(batch)) == [str(waiting.pk)]

    states = {row.pk: (row.status, row.label, row.result_deliveries) for row in Classification.objects.all()}
    assert states == {done.pk: (Status.DONE, "first", 2), failed.pk: (Status.FAILED, "", 1),
                      waiting.pk: (Status.DONE, "label 2", 2)}  # fmt: skip
    assert metrics.DUPLICATE_RESULTS._value.get() == duplicates + 3


def _histogram(family: object) -> tuple[float, float]:
    """(count, sum) of a histogram, in this process."""
    samples = {sample.name: sample.value for metric in family.collect() for sample in metric.samples}  # type: ignore[attr-defined]
    return samples[f"{family._name}_count"], samples[f"{family._name}_sum"]  # type: ignore[attr-defined]


def test_the_models_cpu_is_observed_and_a_worker_that_sends_none_is_recorded_all_the_same() -> None:
    rows = [make_request() for _ in range(3)]
    count, total = _histogram(metrics.MODEL_CPU)
    older = {key: value for key, value in result_payload().items() if key != "model_cpu_ms"}
    recording.record_result(str(rows[0].pk), result_payload())
    recording.record_results([(str(rows[1].pk), result_payload()), (str(rows[2].pk), older)])  # type: ignore[list-item]
    assert _histogram(metrics.MODEL_CPU) == (count + 2, pytest.approx(total + 0.062))
    assert [row.status for row in Classification.objects.filter(pk__in=[row.pk for row in rows])] == [Status.DONE] * 3

"""The result poller and the results consumer find requests by id: their cost must not grow with the table.

Asked for `pk IN (...)` and a status together, SQLite's planner read the status index, and so every finished (the
poller) or every pending (the consumer) row, for each poll and each batch of results. It did so from about ten ids
on: the tests ask for thirty, as many as the benchmark's callers wait for at once.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Classification, Status
from classifier.results import recording
from classifier.results.waiting import _finished_rows
from tests.factories import make_request, result_payload

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plans"),
]

STATUS_INDEXES = ("classifier_classification_status", "classifier__status")
MANY = 30


def _plans(queries: CaptureQueriesContext) -> list[str]:
    """SQLite's plan of each SELECT captured (`sql` there has its parameters written in)."""
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if query["sql"].startswith("SELECT"):
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                plans.append(" / ".join(str(row[-1]) for row in cursor.fetchall()))
    return plans


def _assert_by_primary_key(plans: list[str]) -> None:
    assert plans
    for plan in plans:
        assert "sqlite_autoindex_classifier_classification_1" in plan, plan  # the primary key's index
        assert not any(index in plan for index in STATUS_INDEXES), plan


@pytest.mark.django_db(transaction=True)  # the poller's thread keeps its connection only outside a transaction
def test_the_poller_reads_the_awaited_rows_by_id_and_answers_only_finished_ones() -> None:
    done, failed = make_request(status=Status.DONE, label="tabby"), make_request(status=Status.FAILED)
    queued = [make_request().pk for _ in range(MANY - 3)]
    with CaptureQueriesContext(connection) as queries:
        rows = _finished_rows([done.pk, failed.pk, *queued, uuid.uuid4()])
    assert {row.pk for row in rows} == {done.pk, failed.pk}
    _assert_by_primary_key(_plans(queries))


def test_the_consumer_reads_a_batch_by_id_and_records_only_pending_ones() -> None:
    queued = [make_request() for _ in range(MANY - 2)]
    running, done = make_request(status=Status.RUNNING), make_request(status=Status.DONE, label="tabby")
    batch = [(str(row.pk), result_payload("goldfish")) for row in (*queued, running, done)]
    with CaptureQueriesContext(connection) as queries:
        recorded = recording.record_results(batch)
    assert set(recorded) == {str(row.pk) for row in (*queued, running)}
    labels = dict(Classification.objects.values_list("pk", "label"))
    assert {labels[row.pk] for row in (*queued, running)} == {"goldfish"}
    assert labels[done.pk] == "tabby"
    _assert_by_primary_key(_plans(queries)[:1])  # the look at the batch; the rest are by one id each

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models
from django.db.models import F
from django.utils import timezone

from common import metrics


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"  # its time to live ran out before a worker took it: never classified


FINISHED_STATUSES = (Status.DONE, Status.FAILED, Status.EXPIRED)
PENDING_STATUSES = (Status.QUEUED, Status.RUNNING)
MAX_ERROR_LENGTH = 2000


class ClassificationQuerySet(models.QuerySet["Classification"]):
    """Every change of a request's status, in one place: intake, workers' reports, the sweeper, dead letters and
    re-runs all move requests through these.

    Each is one conditional UPDATE over the rows selected so far (narrow them first: `filter(pk=...)`), so two
    processes racing on a request cannot both move it, and the count returned says whether this call did. A
    finished request stays finished, except that a failed or expired one may be queued again; a done one is never
    sent again. Each move into a finished status is counted here, once (classifier_requests_total).
    """

    def pending(self) -> ClassificationQuerySet:
        return self.filter(status__in=PENDING_STATUSES)

    def with_ids(self, ids: Iterable[uuid.UUID]) -> ClassificationQuerySet:
        """These requests, found by their ids alone, in no order: ask for their status in Python, not in the same
        WHERE. Given `pk IN (...)` and a status condition together, SQLite's planner (and PostgreSQL's, before its
        statistics are in) reads the status index, and so every finished or every pending row: the result poller's
        query grew with the table; by id alone its cost does not.
        """
        return self.filter(pk__in=ids).order_by()

    def finished(self) -> ClassificationQuerySet:
        return self.filter(status__in=FINISHED_STATUSES)

    def start(self, worker: str, started_at: datetime) -> int:
        """queued -> running: a worker has held it a while. A late or repeated notice changes nothing."""
        return self.filter(status=Status.QUEUED).update(status=Status.RUNNING, worker=worker, started_at=started_at)

    def complete(self, recorded_at: datetime, **result: Any) -> int:
        """pending -> done, with the worker's result; the first result wins."""
        return _counted(Status.DONE, self.pending().update(status=Status.DONE, error="", recorded_at=recorded_at,
                                                           **result))  # fmt: skip

    def complete_each(self, recorded_at: datetime, results: Mapping[uuid.UUID, Mapping[str, Any]]) -> int:
        """pending -> done for several requests at once, each with its own result and counted as a delivery:
        `complete` for a batch (the rows are `results`' keys). One UPDATE, prepared once and executed per row
        (executemany): the ORM would build and compile a query per row, or one CASE per column per row, and either
        cost the results consumer more CPU per result than all the rest of its work (bench/pipeline.py's backlog
        row)."""
        if not results:
            return 0
        database = connections[self.db]
        quote = database.ops.quote_name
        meta = self.model._meta
        fields = [meta.get_field(name) for name in next(iter(results.values()))]
        columns = ("status", "error", "recorded_at", "result_deliveries")
        status, error, recorded, deliveries = (quote(meta.get_field(name).column) for name in columns)
        assignments = "".join(f", {quote(field.column)} = %s" for field in fields)
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        # Identifiers from the model's own metadata, quoted; every value is a parameter.
        sql = (f"UPDATE {table} SET {status} = %s, {error} = '', {recorded} = %s, "  # noqa: S608
               f"{deliveries} = {deliveries} + 1{assignments} WHERE {pk} = %s AND {status} IN (%s, %s)")  # fmt: skip
        recorded_value = meta.get_field("recorded_at").get_db_prep_save(recorded_at, database)
        rows = [
            [Status.DONE.value, recorded_value,
             *(field.get_db_prep_save(result[field.name], database) for field in fields),
             meta.pk.get_db_prep_save(pk, database), *(pending.value for pending in PENDING_STATUSES)]
            for pk, result in results.items()
        ]  # fmt: skip
        with database.cursor() as cursor:
            cursor.executemany(sql, rows)
            moved = cursor.rowcount
        return _counted(Status.DONE, moved)

    def fail(self, reason: str, recorded_at: datetime, **facts: Any) -> int:
        """pending -> failed, with the reason (and what else is known: the worker, when it finished)."""
        moved = self.pending().update(
            status=Status.FAILED, error=reason[:MAX_ERROR_LENGTH], recorded_at=recorded_at, **facts
        )
        return _counted(Status.FAILED, moved)

    def expire(self, reason: str, recorded_at: datetime, **facts: Any) -> int:
        """pending -> expired: a worker took it after its time to live, and did not classify it."""
        moved = self.pending().update(
            status=Status.EXPIRED, error=reason[:MAX_ERROR_LENGTH], recorded_at=recorded_at, **facts
        )
        return _counted(Status.EXPIRED, moved)

    def requeue(self, now: datetime, *, count: bool = True) -> int:
        """pending or failed -> queued, for another send: restarts its deadline and counts the send (not when the
        queue lost the last one: that is no reason to give up on the request sooner)."""
        sends = F("dispatches") + 1 if count else F("dispatches")
        return self.exclude(status=Status.DONE).update(
            status=Status.QUEUED, error="", dispatches=sends, dispatched_at=now
        )

    def count_delivery(self) -> int:
        """One more result arrived for these requests (more than one: a redelivery, and only the first counts)."""
        return self.update(result_deliveries=F("result_deliveries") + 1)


def _counted(status: Status, moved: int) -> int:
    if moved:
        metrics.REQUESTS.labels(status.value).inc(moved)
    return moved


class Classification(models.Model):
    """One accepted upload and, once a worker has answered, its result. The database is the truth."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    original_name = models.CharField(max_length=255, help_text="The file name the client sent.")
    input_key = models.CharField(max_length=512, help_text="Object key in the inputs storage.")
    output_key = models.CharField(max_length=512, blank=True)
    content_type = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)

    label = models.CharField(max_length=128, blank=True, db_index=True)
    class_id = models.IntegerField(null=True, blank=True)
    top5 = models.JSONField(default=list, blank=True)
    model_name = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    inference_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    # How many results arrived for this request; more than one means a redelivery, and only the first counted.
    result_deliveries = models.PositiveIntegerField(default=0)
    # Sends to the classify queue: the upload's own, then the sweeper's re-sends (classifier/recovery/sweeper.py).
    dispatches = models.PositiveIntegerField(default=1)
    dispatched_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The client's time to live (an API submission's `ttl`): past it a worker does not classify the request.
    expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True, db_index=True)  # throughput on the status page

    objects = ClassificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]
        # Sending work again costs compute and can repeat a crash: not for everyone who may look at the list.
        permissions = [("rerun_classification", "Can re-run failed requests and re-drive dead letters")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def queue_wait(self) -> timedelta | None:
        return self.started_at - self.created_at if self.started_at else None

    @property
    def turnaround(self) -> timedelta | None:
        return self.recorded_at - self.created_at if self.recorded_at else None


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` and the requests its first submission created (classifier/intake/idempotency.py)."""

    key = models.CharField(max_length=255)
    # Whose key: the user's id when the API authenticates, empty when it is open (one namespace for everybody).
    scope = models.CharField(max_length=64, blank=True)
    # SHA-256 over the submitted files, so the same key sent with different images is refused, not replayed.
    fingerprint = models.CharField(max_length=64)
    request_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="unique_idempotency_key_per_scope")]

    def __str__(self) -> str:
        return self.key

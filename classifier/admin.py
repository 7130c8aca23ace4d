from __future__ import annotations

from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from classifier import dead_letters, intake
from classifier.models import Classification, Status
from project.admin import RecordAdmin
from stack import aws


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.2f} s" if value is not None else "—"


@admin.register(Classification)
class ClassificationAdmin(RecordAdmin):
    list_display = ["original_name", "status", "label", "model_name", "worker", "created_at", "wait", "total"]
    list_filter = ["status", "model_name", "worker", "created_at"]
    search_fields = ["original_name", "label", "=id"]
    date_hierarchy = "created_at"
    actions = ["rerun_failed", "redrive_dead_letters"]

    @admin.action(description="Re-run the selected failed requests")
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[Classification]) -> None:
        sent = intake.rerun_failed(list(queryset.filter(status=Status.FAILED)))
        self.message_user(request, f"Queued {sent} failed request(s) again.", messages.SUCCESS)

    @admin.action(description="Re-drive the selected requests from the dead-letter queue")
    def redrive_dead_letters(self, request: HttpRequest, queryset: QuerySet[Classification]) -> None:
        """Their own messages go back to the classify queue (the others stay in the dead-letter queue)."""
        selected = {str(pk) for pk in queryset.values_list("pk", flat=True)}
        try:
            sqs = aws.client("sqs")
            redriven = dead_letters.redrive(sqs, dead_letters.find_queues(sqs), only=selected)
        except (BotoCoreError, ClientError) as exc:
            self.message_user(request, f"Cannot reach the dead-letter queue: {exc}", messages.ERROR)
            return
        others = len(selected - set(redriven))
        summary = (f"Re-drove {len(redriven)} request(s) from the dead-letter queue; "
                   f"{others} other selected had none to re-drive (or were done).")  # fmt: skip
        self.message_user(request, summary, messages.SUCCESS)

    @admin.display(description="queue wait")
    def wait(self, obj: Classification) -> str:
        return _seconds(obj.queue_wait)

    @admin.display(description="turnaround")
    def total(self, obj: Classification) -> str:
        return _seconds(obj.turnaround)

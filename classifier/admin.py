from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from classifier import intake
from classifier.models import Classification, Status
from project.admin import RecordAdmin


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.2f} s" if value is not None else "—"


@admin.register(Classification)
class ClassificationAdmin(RecordAdmin):
    list_display = ["original_name", "status", "label", "model_name", "worker", "created_at", "wait", "total"]
    list_filter = ["status", "model_name", "worker", "created_at"]
    search_fields = ["original_name", "label", "=id"]
    date_hierarchy = "created_at"
    actions = ["rerun_failed"]

    @admin.action(description="Re-run the selected failed requests")
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[Classification]) -> None:
        sent = intake.rerun_failed(list(queryset.filter(status=Status.FAILED)))
        self.message_user(request, f"Queued {sent} failed request(s) again.", messages.SUCCESS)

    @admin.display(description="queue wait")
    def wait(self, obj: Classification) -> str:
        return _seconds(obj.queue_wait)

    @admin.display(description="turnaround")
    def total(self, obj: Classification) -> str:
        return _seconds(obj.turnaround)

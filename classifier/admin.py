from __future__ import annotations

from datetime import timedelta

from django.contrib import admin

from classifier.models import Classification
from project.admin import RecordAdmin


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.2f} s" if value is not None else "—"


@admin.register(Classification)
class ClassificationAdmin(RecordAdmin):
    list_display = ["original_name", "status", "label", "model_name", "worker", "created_at", "wait", "total"]
    list_filter = ["status", "model_name", "worker", "created_at"]
    search_fields = ["original_name", "label", "=id"]
    date_hierarchy = "created_at"

    @admin.display(description="queue wait")
    def wait(self, obj: Classification) -> str:
        return _seconds(obj.queue_wait)

    @admin.display(description="turnaround")
    def total(self, obj: Classification) -> str:
        return _seconds(obj.turnaround)

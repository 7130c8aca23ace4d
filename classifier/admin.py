from __future__ import annotations

from datetime import timedelta

from django.contrib import admin

from classifier.models import Classification


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.2f} s" if value is not None else "—"


@admin.register(Classification)
class ClassificationAdmin(admin.ModelAdmin):
    list_display = ["original_name", "status", "label", "model_name", "worker", "created_at", "wait", "total"]
    list_filter = ["status", "model_name", "worker", "created_at"]
    search_fields = ["original_name", "label", "=id"]
    date_hierarchy = "created_at"
    # Everything here is a fact recorded by the pipeline: the admin shows it and does not edit it.
    readonly_fields = [field.name for field in Classification._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: Classification | None = None) -> bool:
        return False

    @admin.display(description="queue wait")
    def wait(self, obj: Classification) -> str:
        return _seconds(obj.queue_wait)

    @admin.display(description="turnaround")
    def total(self, obj: Classification) -> str:
        return _seconds(obj.turnaround)

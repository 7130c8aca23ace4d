from __future__ import annotations

from django.contrib import admin

from autoscale.models import ScalingEvent


@admin.register(ScalingEvent)
class ScalingEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "provider", "policy", "visible", "in_flight", "running", "pending",
                    "desired", "instance_count", "dry_run"]  # fmt: skip
    list_filter = ["action", "provider", "policy", "dry_run", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ScalingEvent._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: ScalingEvent | None = None) -> bool:
        return False

    @admin.display(description="instances")
    def instance_count(self, obj: ScalingEvent) -> int:
        return len(obj.instance_ids)

from __future__ import annotations

from django.contrib import admin

from autoscale.models import FleetSample, ScalingEvent
from common.admin import RecordAdmin


@admin.register(ScalingEvent)
class ScalingEventAdmin(RecordAdmin):
    list_display = ["created_at", "action", "provider", "policy", "visible", "in_flight", "running", "pending",
                    "desired", "instance_count", "dry_run"]  # fmt: skip
    list_filter = ["action", "provider", "policy", "dry_run", "created_at"]
    date_hierarchy = "created_at"

    @admin.display(description="instances")
    def instance_count(self, obj: ScalingEvent) -> int:
        return len(obj.instance_ids)


@admin.register(FleetSample)
class FleetSampleAdmin(RecordAdmin):
    list_display = ["time", "provider", "visible", "in_flight", "running", "pending", "desired"]
    list_filter = ["provider", "time"]
    date_hierarchy = "time"
    # A day of ticks is tens of thousands of rows: skip the full count on every changelist page.
    show_full_result_count = False

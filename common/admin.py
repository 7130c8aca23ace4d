"""The admin base shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """For rows that record facts (what the pipeline or the autoscaler did): listed and shown, never edited."""

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

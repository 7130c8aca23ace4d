from __future__ import annotations

from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from classifier.models import Classification, Status
from classifier.recovery import dead_letters
from classifier.recovery.rerun import rerun_failed
from classifier.web import export
from common import aws
from common.admin import RecordAdmin


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.2f} s" if value is not None else "—"


class LabelFilter(admin.SimpleListFilter):
    """The labels that occur, most frequent first (a plain field filter would offer all rows' labels unordered)."""

    title = "label"
    parameter_name = "label"
    LIMIT = 30

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        common = (
            Classification.objects.exclude(label="").values("label").annotate(n=Count("pk")).order_by("-n", "label")
        )
        return [(row["label"], f"{row['label']} ({row['n']})") for row in common[: self.LIMIT]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Classification]) -> QuerySet[Classification]:
        return queryset.filter(label=self.value()) if self.value() else queryset


@admin.register(Classification)
class ClassificationAdmin(RecordAdmin):
    list_display = [
        "thumbnail", "original_name", "status", "label", "model_name", "worker", "created_at", "wait", "total",
        "inference",
    ]  # fmt: skip
    list_display_links = ["thumbnail", "original_name"]
    list_filter = ["status", LabelFilter, "model_name", "worker", "created_at"]
    search_fields = ["original_name", "label", "=id"]
    date_hierarchy = "created_at"
    actions = ["rerun_failed", "redrive_dead_letters", "export_csv"]
    list_per_page = 50

    @admin.display(description="image")
    def thumbnail(self, obj: Classification) -> str:
        return format_html(
            '<img src="{}" alt="" width="48" height="48" loading="lazy" style="object-fit: cover">',
            reverse("classifier:thumbnail", args=[obj.pk]),
        )

    @admin.action(description="Export the selected requests as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Classification]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="classifications.csv"'
        export.write_csv(queryset.order_by("created_at"), response)
        return response

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("classifier.rerun_classification")

    @admin.action(description="Re-run the selected failed requests", permissions=["rerun"])
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[Classification]) -> None:
        sent = rerun_failed(list(queryset.filter(status=Status.FAILED)))
        self.message_user(request, f"Queued {sent} failed request(s) again.", messages.SUCCESS)

    @admin.action(description="Re-drive the selected requests from the dead-letter queue", permissions=["rerun"])
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

    @admin.display(description="inference", ordering="inference_ms")
    def inference(self, obj: Classification) -> str:
        return f"{obj.inference_ms:.1f} ms" if obj.inference_ms is not None else "—"

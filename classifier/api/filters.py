"""Query parameters of GET /api/classifications."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from classifier.models import Classification, Status


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC here.

    Python accepts UTC offsets up to ±23:59, PostgreSQL only to ±15:59: a client's `-20:14` must become a plain UTC
    time before it reaches the database, and a time that leaves the calendar on the way (year 1 at +05:00) is the
    client's error, not a 500.
    """

    def clean(self, value: object) -> datetime | None:
        moment = super().clean(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("the time is out of range once converted to UTC", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class ClassificationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    label = django_filters.CharFilter(lookup_expr="iexact", help_text="The top-1 label, any case.")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="Submitted at or after (ISO 8601).")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Submitted before (ISO 8601).")
    file_name = django_filters.CharFilter(
        field_name="original_name", lookup_expr="icontains", help_text="Part of the uploaded file's name."
    )
    worker = django_filters.CharFilter()
    model = django_filters.CharFilter(field_name="model_name")

    class Meta:
        model = Classification
        fields: list[str] = []

"""Query parameters of GET /api/classifications."""

from __future__ import annotations

import django_filters

from classifier.models import Classification, Status


class ClassificationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    label = django_filters.CharFilter(lookup_expr="iexact", help_text="The top-1 label, any case.")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Submitted at or after (ISO 8601)."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Submitted before (ISO 8601)."
    )
    file_name = django_filters.CharFilter(
        field_name="original_name", lookup_expr="icontains", help_text="Part of the uploaded file's name."
    )
    worker = django_filters.CharFilter()
    model = django_filters.CharFilter(field_name="model_name")

    class Meta:
        model = Classification
        fields: list[str] = []

"""How a classification request looks in JSON. Read-only: requests are created from uploads, never from JSON."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.models import Classification, Status


class GuessSerializer(serializers.Serializer):
    label = serializers.CharField()
    class_id = serializers.IntegerField()
    probability = serializers.FloatField()


class ModelInfoSerializer(serializers.Serializer):
    name = serializers.CharField(source="model_name", allow_null=True)
    version = serializers.CharField(source="model_version", allow_null=True)

    def to_representation(self, instance: Classification) -> dict[str, Any]:
        return {"name": instance.model_name or None, "version": instance.model_version or None}


class TimingsSerializer(serializers.Serializer):
    queued_at = serializers.DateTimeField(source="created_at")
    started_at = serializers.DateTimeField(allow_null=True, help_text="Set once a worker has held it a moment.")
    finished_at = serializers.DateTimeField(allow_null=True, help_text="When the worker finished, by its clock.")
    recorded_at = serializers.DateTimeField(allow_null=True, help_text="When the result reached the database.")
    inference_ms = serializers.FloatField(allow_null=True, help_text="Decode, preprocess and model, on the worker.")


class ClassificationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices)
    status_url = serializers.SerializerMethodField(help_text="This resource; add ?wait=<seconds> to long-poll.")
    page_url = serializers.SerializerMethodField(help_text="The request's web page.")
    file_name = serializers.CharField(source="original_name")
    label = serializers.SerializerMethodField(help_text="The top-1 label, once done.")
    top5 = GuessSerializer(many=True)
    model = ModelInfoSerializer(source="*")
    worker = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField(help_text="Why the request failed or expired, when it did.")
    timings = TimingsSerializer(source="*")

    class Meta:
        model = Classification
        fields = [
            "id", "status", "status_url", "page_url", "file_name", "content_type", "size_bytes", "width", "height",
            "label", "class_id", "top5", "model", "worker", "error", "dispatches", "result_deliveries", "timings",
            "expires_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_status_url(self, row: Classification) -> str:
        return self._absolute(reverse("classifier:api-detail", args=[row.pk]))

    def get_page_url(self, row: Classification) -> str:
        return self._absolute(reverse("classifier:detail", args=[row.pk]))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_label(self, row: Classification) -> str | None:
        return row.label or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_worker(self, row: Classification) -> str | None:
        return row.worker or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, row: Classification) -> str | None:
        return row.error or None


class SubmissionSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ClassificationSerializer(many=True)


class UploadSerializer(serializers.Serializer):
    """The multipart body of a submission (documentation only: the view reads the files itself)."""

    file = serializers.ListField(
        child=serializers.FileField(), help_text="One or more images, each as a `file` part (JPEG, PNG, ...)."
    )
    ttl = serializers.FloatField(
        required=False, help_text="Seconds the answers are of use; a request no worker took by then ends `expired`."
    )


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What was wrong, for a person.")
    code = serializers.CharField(help_text="What was wrong, for a program.")

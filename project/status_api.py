"""GET /api/status: the service at a glance (project/service_status.py gathers it; the status page draws it)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.serializers import ErrorSerializer
from classifier.request_stats import DEFAULT_MINUTES, MAX_MINUTES, MIN_MINUTES, parse_minutes
from project import service_status


class StatusWindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    minutes = serializers.FloatField()


class QueueDepthSerializer(serializers.Serializer):
    available = serializers.BooleanField(help_text="False when SQS could not be asked; `error` says why.")
    waiting = serializers.IntegerField(allow_null=True, help_text="Classify messages waiting for a worker.")
    in_flight = serializers.IntegerField(allow_null=True, help_text="Classify messages a worker holds now.")
    dead_letters = serializers.IntegerField(allow_null=True, help_text="Messages in the dead-letter queue.")
    error = serializers.CharField(allow_blank=True)


class FleetNowSerializer(serializers.Serializer):
    reported = serializers.BooleanField(help_text="False when no autoscaler has written a sample yet.")
    message = serializers.CharField(allow_blank=True, help_text="Why the figures are missing or old, if they are.")
    provider = serializers.CharField(allow_blank=True)
    sampled_at = serializers.DateTimeField(allow_null=True, help_text="The autoscaler's latest tick.")
    age_seconds = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField(help_text="The latest sample is older than a few ticks.")
    running = serializers.IntegerField(allow_null=True)
    pending = serializers.IntegerField(allow_null=True, help_text="Launched, not yet taking work.")
    desired = serializers.IntegerField(allow_null=True)


class LatencyPercentilesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class StatusCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()


class RequestStatsSerializer(serializers.Serializer):
    finished = serializers.IntegerField(help_text="Done or failed, recorded within the window.")
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    throughput_per_minute = serializers.FloatField(help_text="Finished requests per minute over the window.")
    by_status = StatusCountsSerializer(help_text="Requests received within the window, by their status now.")
    turnaround_seconds = LatencyPercentilesSerializer(source="turnaround", help_text="Upload to recorded result.")
    queue_wait_seconds = LatencyPercentilesSerializer(source="queue_wait", help_text="Upload to a worker starting.")
    latency_rows = serializers.IntegerField(help_text="Done requests the percentiles were computed from.")
    latency_capped = serializers.BooleanField(help_text="True when only the newest of the window's results count.")


class FleetPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    visible = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    running = serializers.IntegerField()
    pending = serializers.IntegerField()


class FleetMarkerSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=["launch", "terminate", "error"])
    count = serializers.IntegerField(help_text="Instances launched or terminated.")


class FleetChartSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    points = FleetPointSerializer(many=True, help_text="The autoscaler's samples, oldest first.")
    markers = FleetMarkerSerializer(many=True, help_text="Fleet changes (ScalingEvents), oldest first.")
    stride = serializers.IntegerField(help_text="1: every sample; n: every n-th, the newest always included.")
    truncated = serializers.BooleanField(help_text="Too many samples: the oldest are left out.")


class ServiceStatusSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    window = StatusWindowSerializer(help_text="The span the request figures cover.")
    queue = QueueDepthSerializer()
    fleet = FleetNowSerializer(help_text="From the autoscaler's latest sample.")
    requests = RequestStatsSerializer()
    chart = FleetChartSerializer(help_text="Queue depth and fleet size over the last hour.")


class ServiceStatus(APIView):
    """The queues, the fleet and the requests, now and over the last minutes."""

    @extend_schema(
        operation_id="getServiceStatus",
        summary="The service at a glance",
        description=(
            "Queue depth now (from SQS), workers running and pending (from the autoscaler's latest sample), "
            "throughput and latency percentiles over the last `minutes`, and the series for a chart of queue "
            "depth and fleet size over the last hour. A part that cannot be read says so; the call still answers."
        ),
        parameters=[
            OpenApiParameter(
                "minutes",
                OpenApiTypes.INT,
                description=f"The window for throughput and latency, {MIN_MINUTES} to {MAX_MINUTES} "
                f"(default {DEFAULT_MINUTES}).",
            )
        ],
        responses={200: ServiceStatusSerializer, **{code: OpenApiResponse(ErrorSerializer) for code in (400, 401)}},
    )
    def get(self, request: Request) -> Response:
        try:
            minutes = parse_minutes(request.query_params.get("minutes"))
        except ValueError as exc:
            raise ValidationError({"minutes": str(exc)}, code="invalid_minutes") from None
        snapshot = service_status.snapshot(timezone.now(), minutes)
        response = Response(ServiceStatusSerializer(snapshot).data)
        response["Cache-Control"] = "no-store"  # a status is stale the moment it is sent
        return response

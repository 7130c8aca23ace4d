"""The status page and GET /api/status: the service at a glance (status/snapshot.py gathers it, the page's script
draws it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.serializers import ErrorSerializer
from classifier.web import access
from status import snapshot
from status.request_stats import DEFAULT_MINUTES, MAX_MINUTES, MIN_MINUTES, parse_minutes
from status.serializers import ServiceStatusSerializer


@access.page
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """The service at a glance; the page's script refreshes it from GET /api/status."""
    return render(request, "status/page.html")


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
        at_a_glance = snapshot.snapshot(timezone.now(), minutes)
        response = Response(ServiceStatusSerializer(at_a_glance).data)
        response["Cache-Control"] = "no-store"  # a status is stale the moment it is sent
        return response

"""The JSON API: submit an image (202 + status URL) and read a request's state."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from classifier.intake import UploadRejected
from classifier.models import Classification
from classifier.uploads import accept_from


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def represent(row: Classification, request: HttpRequest) -> dict[str, Any]:
    return {
        "id": str(row.pk),
        "status": row.status,
        "status_url": request.build_absolute_uri(reverse("classifier:api-detail", args=[row.pk])),
        "file_name": row.original_name,
        "label": row.label or None,
        "class_id": row.class_id,
        "top5": row.top5,
        "model": {"name": row.model_name or None, "version": row.model_version or None},
        "worker": row.worker or None,
        "error": row.error or None,
        "timings": {
            "queued_at": _iso(row.created_at),
            "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at),
            "recorded_at": _iso(row.recorded_at),
            "inference_ms": row.inference_ms,
        },
    }


@csrf_exempt
@require_POST
async def submit(request: HttpRequest) -> JsonResponse:
    try:
        _, row = await accept_from(request, "file")
    except UploadRejected as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    response = JsonResponse(represent(row, request), status=202)
    response["Location"] = reverse("classifier:api-detail", args=[row.pk])
    return response


@require_GET
def detail(request: HttpRequest, request_id: uuid.UUID) -> JsonResponse:
    try:
        row = Classification.objects.get(pk=request_id)
    except Classification.DoesNotExist:
        return JsonResponse({"error": f"no classification request {request_id}"}, status=404)
    return JsonResponse(represent(row, request))

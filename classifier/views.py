"""Pages for people and the CSE546 workload generators' plain-text endpoint."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier import storage
from classifier.intake import UploadRejected
from classifier.models import Classification, Status
from classifier.uploads import accept_from, timeout_message, wait_for_result

RECENT_COUNT = 20
# The field each CSE546 workload generator sends: 2022-2023 wants the bare label, 2024 wants `name:label`.
CSE546_FIELDS = ("myfile", "inputFile")


@csrf_exempt  # the workload generators are plain HTTP clients with no session
@require_http_methods(["GET", "POST"])
async def home(request: HttpRequest) -> HttpResponseBase:
    if request.method == "GET":
        return await sync_to_async(_render_home)(request)
    return await _cse546(request)


def _render_home(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    recent = Classification.objects.all()[:RECENT_COUNT]
    return render(request, "classifier/home.html", {"recent": recent, "error": error}, status=status)


async def _cse546(request: HttpRequest) -> HttpResponse:
    try:
        field, row = await accept_from(request, *CSE546_FIELDS)
    except UploadRejected as exc:
        return _text(exc.message, exc.status)
    finished = await wait_for_result(row.pk)
    if finished is None:
        return _text(timeout_message(row.pk), 504)
    if finished.status != Status.DONE:
        return _text(f"classification failed: {finished.error}", 422)
    if field == "inputFile":
        return _text(f"{storage.name_stem(finished.original_name)}:{finished.label}")
    return _text(finished.label)


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@require_POST
async def upload_form(request: HttpRequest) -> HttpResponseBase:
    """The browser form (CSRF-protected): wait briefly for the label, then show the request's page."""
    try:
        _, row = await accept_from(request, "image")
    except UploadRejected as exc:
        return await sync_to_async(_render_home)(request, exc.message, exc.status)
    await wait_for_result(row.pk)
    return redirect("classifier:detail", request_id=row.pk)


@require_GET
def detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    row = get_object_or_404(Classification, pk=request_id)
    return render(request, "classifier/detail.html", {"row": row})


@require_GET
def image(request: HttpRequest, request_id: uuid.UUID) -> FileResponse:
    row = get_object_or_404(Classification, pk=request_id)
    try:
        handle = storage.inputs().open(row.input_key, "rb")
    except FileNotFoundError:
        raise Http404("the image is no longer stored") from None
    return FileResponse(handle, content_type=row.content_type or "application/octet-stream")

"""Pages for people, and the CSE546 workload generators' plain-text endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier import storage
from classifier.intake.http import accept_from, release_connection, timeout_message, wait_for_result
from classifier.intake.validation import UploadRejected
from classifier.models import Classification, Status
from classifier.web import access, thumbnails

RECENT_ON_HOME = 12
RECENT_PER_PAGE = 50
# The field each CSE546 workload generator sends: 2022-2023 wants the bare label, 2024 wants `name:label`.
CSE546_FIELDS = ("myfile", "inputFile")


@csrf_exempt  # the workload generators are plain HTTP clients with no session; the page's own uploads use the API
@require_http_methods(["GET", "POST"])
async def home(request: HttpRequest) -> HttpResponseBase:
    if request.method == "POST":
        return await _cse546(request)
    if access.auth_required() and not await sync_to_async(lambda: request.user.is_authenticated)():
        return access.login_redirect(request)
    return await sync_to_async(_render_home)(request)


@ensure_csrf_cookie  # the page's script sends the token with its API calls (needed once a user is logged in)
def _render_home(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    recent = Classification.objects.all()[:RECENT_ON_HOME]
    context = {"recent": recent, "error": error, "max_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024)}
    return render(request, "classifier/home.html", context, status=status)


async def _cse546(request: HttpRequest) -> HttpResponse:
    if access.auth_required() and not await sync_to_async(access.has_valid_token)(request):
        return access.unauthorized_text()
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
        return _text(f"{storage.original_stem(finished.original_name)}:{finished.label}")
    return _text(finished.label)


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@access.page
@require_POST
async def upload_form(request: HttpRequest) -> HttpResponseBase:
    """The form without JavaScript (CSRF-protected): wait briefly for the label, then show the request's page."""
    try:
        _, row = await accept_from(request, "image")
    except UploadRejected as exc:
        return await sync_to_async(_render_home)(request, exc.message, exc.status)
    await wait_for_result(row.pk)
    return redirect("classifier:detail", request_id=row.pk)


@access.page
@require_GET
def recent(request: HttpRequest) -> HttpResponse:
    rows = Classification.objects.all()
    status = request.GET.get("status", "")
    if status in Status.values:
        rows = rows.filter(status=status)
    else:
        status = ""  # an unknown value is not echoed back into the page's links
    page = Paginator(rows, RECENT_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "classifier/recent.html", {"page": page, "status": status, "statuses": Status.choices})


@access.page
@require_GET
def detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    row = get_object_or_404(Classification, pk=request_id)
    return render(request, "classifier/detail.html", {"row": row})


@contextmanager
def _stored_image_of(request_id: uuid.UUID) -> Iterator[Classification]:
    """The request's row, its DB connection given back (storage reads and downloads need none); 404 when the row
    or its stored image is gone."""
    row = get_object_or_404(Classification, pk=request_id)
    release_connection()
    try:
        yield row
    except FileNotFoundError:
        raise Http404("the image is no longer stored") from None


@access.page
@require_GET
@cache_control(private=True, max_age=86400)  # a request's image never changes
def image(request: HttpRequest, request_id: uuid.UUID) -> FileResponse:
    with _stored_image_of(request_id) as row:
        handle = storage.inputs().open(row.input_key, "rb")
    return FileResponse(handle, content_type=row.content_type or "application/octet-stream")


@access.page
@require_GET
@cache_control(private=True, max_age=86400)
def thumbnail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    with _stored_image_of(request_id) as row:
        data = thumbnails.thumbnail_of(row.input_key)
    return HttpResponse(data, content_type=thumbnails.CONTENT_TYPE)

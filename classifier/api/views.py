"""The API's endpoints. Thin: intake, idempotency and waiting live in their own modules."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from classifier.api.errors import Refused
from classifier.api.filters import ClassificationFilter
from classifier.api.serializers import (
    ClassificationSerializer,
    ErrorSerializer,
    SubmissionSerializer,
    UploadSerializer,
)
from classifier.intake import idempotency
from classifier.intake.http import check_declared_length, refused_while_down
from classifier.intake.validation import UploadRejected, validate
from classifier.models import Classification

UPLOAD_FIELD = "file"


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ClassificationList(generics.GenericAPIView):
    """Submit images for classification, or list the requests."""

    queryset = Classification.objects.all()
    serializer_class = ClassificationSerializer
    filterset_class = ClassificationFilter
    pagination_class = Pages
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="listClassifications",
        summary="List classification requests, newest first",
        responses={200: ClassificationSerializer(many=True), **_errors(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="submitClassifications",
        summary="Submit one or more images",
        description=(
            "Each image becomes one request, queued for a worker; the answer (202) lists them with their status "
            "URLs. All or nothing: if one file is refused, none is kept. Send an `Idempotency-Key` header to make "
            "a retry safe: the same key with the same files returns the first attempt's requests "
            "(`Idempotent-Replayed: true`); with other files it is refused (422). Send `ttl` (a form field) or a "
            "`Request-TTL` header to say how many seconds the answers are of use: a request no worker has taken "
            "by then is not classified and ends `expired`."
        ),
        request={"multipart/form-data": UploadSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Any unique string."
            ),
            OpenApiParameter(
                "Request-TTL",
                OpenApiTypes.NUMBER,
                OpenApiParameter.HEADER,
                description="Seconds the answers are of use (as the `ttl` field; at most MAX_REQUEST_TTL).",
            ),
        ],
        responses={202: SubmissionSerializer, **_errors(400, 401, 413, 415, 422, 503)},
    )
    def post(self, request: Request) -> Response:
        try:
            check_declared_length(request.META, settings.API_MAX_REQUEST_BYTES)
            files = request.FILES.getlist(UPLOAD_FIELD)
            if not files:
                raise UploadRejected(
                    400, f"no file: send one or more images as multipart/form-data parts named {UPLOAD_FIELD!r}"
                )
            if len(files) > settings.API_MAX_FILES:
                raise UploadRejected(413, f"{len(files)} files; the limit is {settings.API_MAX_FILES} a request")
            key = request.headers.get("Idempotency-Key")
            if key is not None and (problem := idempotency.check_key(key)):
                raise Refused(400, problem, "invalid_idempotency_key")
            ttl = time_to_live(request)
            images = [validate(upload, UPLOAD_FIELD) for upload in files]
            with refused_while_down():
                submission = idempotency.submit(images, key, _scope(request), ttl=ttl)
        except UploadRejected as rejected:
            raise Refused.from_upload(rejected) from None
        except idempotency.KeyReused as exc:
            raise Refused(422, str(exc), "idempotency_key_reused") from None
        body = SubmissionSerializer(
            {"count": len(submission.rows), "results": submission.rows}, context=self.get_serializer_context()
        ).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        if len(submission.rows) == 1:
            response["Location"] = reverse("classifier:api-detail", args=[submission.rows[0].pk])
        if submission.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def time_to_live(request: Request) -> float | None:
    """The submission's `ttl` field or `Request-TTL` header, in seconds (None: no limit). Refused (400) when it is
    not a number of seconds above zero and within MAX_REQUEST_TTL, or when the two disagree."""
    field, header = request.data.get("ttl"), request.headers.get("Request-TTL")
    given = {raw.strip() for raw in (field, header) if isinstance(raw, str) and raw.strip()}
    if not given:
        return None
    if len(given) > 1:
        raise Refused(400, "the ttl field and the Request-TTL header disagree: send one", "invalid_ttl")
    raw = given.pop()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 < seconds <= settings.MAX_REQUEST_TTL:
        raise Refused(400, f"ttl must be a number of seconds above 0 and at most {settings.MAX_REQUEST_TTL:g}, "
                           f"got {raw[:40]!r}", "invalid_ttl")  # fmt: skip
    return seconds


def _scope(request: Request) -> str:
    user = request.user
    return str(user.pk) if user is not None and user.is_authenticated else ""


def wait_seconds(query: Mapping[str, str]) -> float:
    """The `?wait=` of a request's query: 0 when absent; ValueError when it is not a number of seconds in range."""
    raw = query.get("wait")
    if raw is None or raw == "":
        return 0.0
    value = float(raw)
    if not math.isfinite(value) or value < 0 or value > settings.API_MAX_WAIT_SECONDS:
        raise ValueError(raw)
    return value


class ClassificationDetail(generics.RetrieveAPIView):
    """One request: its state and, once done, its result."""

    queryset = Classification.objects.all()
    serializer_class = ClassificationSerializer
    lookup_url_kwarg = "request_id"

    @extend_schema(
        operation_id="getClassification",
        summary="Read one request (optionally waiting for its result)",
        parameters=[
            OpenApiParameter(
                "wait",
                OpenApiTypes.NUMBER,
                description=(
                    "Hold the call up to this many seconds (at most API_MAX_WAIT_SECONDS, 60 by default) until the "
                    "request is done or failed; the answer is the state at that moment either way."
                ),
            )
        ],
        responses={200: ClassificationSerializer, **_errors(400, 401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            wait_seconds(request.query_params)
        except ValueError:
            raise ValidationError(
                {"wait": f"a number of seconds from 0 to {settings.API_MAX_WAIT_SECONDS:g}"}, code="invalid_wait"
            ) from None
        return super().get(request, *args, **kwargs)

    def get_object(self) -> Classification:
        request_id: uuid.UUID = self.kwargs["request_id"]
        try:
            return self.get_queryset().get(pk=request_id)
        except Classification.DoesNotExist:
            raise Refused(404, f"no classification request {request_id}", "not_found") from None

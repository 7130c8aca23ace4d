"""boto3 clients built from settings, so every caller points at the same endpoint and region."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,
        region_name=settings.AWS_REGION,
        endpoint_url=endpoint_url or settings.AWS_ENDPOINT_URL or None,
        config=_RETRIES,
    )

"""boto3 clients built from settings, so every caller points at the same endpoint and region."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(
    service: str,
    endpoint_url: str | None = None,
    env: Mapping[str, str] | None = None,
    config: Config | None = None,
    region: str | None = None,
) -> Any:
    """A client for `service`. `env` may carry AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for a local endpoint;
    otherwise boto3's usual chain applies (environment, instance profile). `config` overrides the retries and
    timeouts (a status page wants one quick try, not five patient ones); `region` overrides the settings' region."""
    env = env or {}
    return boto3.client(
        service,
        region_name=region or settings.AWS_REGION,
        endpoint_url=endpoint_url or settings.AWS_ENDPOINT_URL or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        config=_RETRIES.merge(config) if config else _RETRIES,
    )

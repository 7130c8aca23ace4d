from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import aws
from deploy.provision import QueuePlan, ensure_buckets, ensure_queues


class Command(BaseCommand):
    help = "Create or update the SQS queues (with visibility timeout and dead-letter redrive) and the S3 buckets."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            urls = ensure_queues(aws.client("sqs"), QueuePlan.from_settings())
            if settings.STORAGE_BACKEND == "s3":
                ensure_buckets(
                    aws.client("s3"), [settings.S3_INPUT_BUCKET, settings.S3_OUTPUT_BUCKET], settings.AWS_REGION
                )
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"provisioning failed: {exc}") from None
        for name, url in urls.items():
            self.stdout.write(f"{name}: {url}")

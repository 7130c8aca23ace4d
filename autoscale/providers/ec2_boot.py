"""How an EC2 worker boots: the environment it is given and the user data that writes it down and starts its unit.

One rule for both ways a worker is launched: the launch template `manage.py provision` makes carries this user
data (retiring by default), and the ec2 provider sends it again with each launch, saying whether that worker may
retire. The image (deploy/worker/bake.sh) carries the code and the classifier-worker unit the user data starts.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

USER_DATA_TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "worker" / "user-data.sh"


def deployment_environment(*, region: str, input_bucket: str, output_bucket: str, queue_prefix: str,
                           visibility_timeout: int, wait_time_seconds: int,
                           max_receive_count: int) -> dict[str, str]:  # fmt: skip
    """What every host of one deployment is told: where its images and queues are, and the queues' timings."""
    return {
        "AWS_REGION": region,
        "STORAGE_BACKEND": "s3",  # the one store the web host and instances elsewhere share
        "S3_INPUT_BUCKET": input_bucket,
        "S3_OUTPUT_BUCKET": output_bucket,
        "SQS_QUEUE_PREFIX": queue_prefix,
        "SQS_VISIBILITY_TIMEOUT": str(visibility_timeout),
        "SQS_WAIT_TIME_SECONDS": str(wait_time_seconds),
        "SQS_MAX_RECEIVE_COUNT": str(max_receive_count),
    }


def settings_environment() -> dict[str, str]:
    """The deployment this process belongs to, as its own settings say (the autoscaler on the web host)."""
    return deployment_environment(
        region=settings.AWS_REGION, input_bucket=settings.S3_INPUT_BUCKET, output_bucket=settings.S3_OUTPUT_BUCKET,
        queue_prefix=settings.SQS_QUEUE_PREFIX, visibility_timeout=settings.SQS_VISIBILITY_TIMEOUT,
        wait_time_seconds=settings.SQS_WAIT_TIME_SECONDS, max_receive_count=settings.SQS_MAX_RECEIVE_COUNT,
    )  # fmt: skip


def worker_environment(deployment: dict[str, str], *, retires: bool) -> dict[str, str]:
    return {**deployment, "WORKER_RETIRE": "true" if retires else "false"}


def render_user_data(environment: dict[str, str], template: Path = USER_DATA_TEMPLATE,
                     marker: str = "@WORKER_ENVIRONMENT@") -> str:  # fmt: skip
    """A user data script with `environment` written into its environment file's heredoc (the web hosts' template,
    deploy/web/user-data.sh, takes @HOST_ENVIRONMENT@)."""
    for key, value in environment.items():
        if not key.isidentifier() or any(character in value for character in "\n\"'\\$` "):
            raise ValueError(f"{key}={value!r} cannot go into an environment file as it is")
    lines = "\n".join(f"{key}={value}" for key, value in environment.items())
    return template.read_text().replace(marker, lines)

"""An idle worker's instance leaves its Auto Scaling group: TerminateInstanceInAutoScalingGroup, decrementing the
desired capacity, so AWS neither replaces it nor picks a busy peer instead. Run by the worker's unit after the
worker retired (deploy/worker/classifier-worker.service), as root, outside Django.

Exit 0: the group has let it go (the instance terminates). Anything else (no group configured, not a member, no
metadata service, a refused call): exit 1, and the unit powers the instance off instead, which terminates it too.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import boto3

from common import instance_metadata

logger = logging.getLogger("autoscale.leave")


def this_instance() -> str:
    """The instance id, from the metadata service."""
    return instance_metadata.read("instance-id")


def leave(instance_id: str, autoscaling: Any) -> None:
    """Refused (ValidationError) for an instance in no group: one launched by the ec2 provider from the same
    template. The worker role may call it on its own group only (deploy/iam/worker-policy.json)."""
    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # to the journal, through stderr
    group = os.environ.get("AUTOSCALE_GROUP", "")
    if not group:
        logger.info("no AUTOSCALE_GROUP: this instance is in no group")
        return 1
    try:
        instance_id = os.environ.get("INSTANCE_ID") or this_instance()
        leave(instance_id, boto3.client("autoscaling", region_name=os.environ.get("AWS_REGION")))
    except Exception as exc:  # any failure falls back to the power-off, which ends the instance as well
        logger.warning("could not leave %s: %s", group, exc)
        return 1
    logger.info("%s left %s", instance_id, group)
    return 0


if __name__ == "__main__":
    sys.exit(main())

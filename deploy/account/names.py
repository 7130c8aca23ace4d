"""Every resource's name, derived from the deployment's prefix, and the rule a prefix must follow."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Bucket names are the strictest rule the prefix meets (3-63 characters, lowercase letters, digits and hyphens,
# starting and ending with a letter or digit; dots would break virtual-hosted TLS, so none). 32 leaves room for
# the longest suffix in every service's limit: buckets 63, queues 80, IAM roles 64, launch templates 128.
_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")

# The tag every resource we make carries, valued with the prefix: deprovision removes only what carries it.
OWNER_TAG = "classifier:deployment"


class InvalidPrefix(ValueError):
    pass


def within(name: str, limit: int) -> str:
    """`name`, or where it is longer than a service allows (a load balancer's or target group's 32 characters) its
    start with a short hash of the whole, so two long prefixes that start alike still name different things."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix) or "--" in prefix or prefix.startswith("xn-") or prefix.startswith("sthree-"):
        raise InvalidPrefix(
            f"prefix {prefix!r} cannot name S3 buckets: use 1-32 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return prefix


@dataclass(frozen=True)
class Names:
    prefix: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @property
    def queue_prefix(self) -> str:
        return f"{self.prefix}-"

    @property
    def input_bucket(self) -> str:
        return f"{self.prefix}-inputs"

    @property
    def output_bucket(self) -> str:
        return f"{self.prefix}-outputs"

    @property
    def worker_role(self) -> str:
        return f"{self.prefix}-worker"

    @property
    def web_host_role(self) -> str:
        return f"{self.prefix}-web-host"

    @property
    def worker_security_group(self) -> str:
        return f"{self.prefix}-workers"

    @property
    def web_security_group(self) -> str:
        return f"{self.prefix}-web"

    @property
    def launch_template(self) -> str:
        return f"{self.prefix}-worker"

    @property
    def worker_group(self) -> str:
        return f"{self.prefix}-workers"

    @property
    def web_launch_template(self) -> str:
        return f"{self.prefix}-web"

    @property
    def web_group(self) -> str:
        return f"{self.prefix}-web"

    @property
    def balancer(self) -> str:
        return within(f"{self.prefix}-web", 32)

    @property
    def balancer_security_group(self) -> str:
        return f"{self.prefix}-balancer"

    @property
    def target_group(self) -> str:
        return within(f"{self.prefix}-web-hosts", 32)

    @property
    def database(self) -> str:
        """An RDS identifier starts with a letter and ends with none of hyphens."""
        return f"{self.prefix}-db" if self.prefix[0].isalpha() else f"db-{self.prefix}"

    @property
    def database_security_group(self) -> str:
        return f"{self.prefix}-database"

    @property
    def database_subnet_group(self) -> str:
        return f"{self.prefix}-database"

    @property
    def parameter_path(self) -> str:
        """Where the web hosts' configuration lives in SSM Parameter Store, one parameter per variable."""
        return f"/{self.prefix}/web"

    @property
    def secret(self) -> str:
        """The Secrets Manager secret with the web hosts' generated secrets (and the database's password)."""
        return f"{self.prefix}/web"

    @property
    def artifacts_bucket(self) -> str:
        """Release archives `manage.py bake` builds images from."""
        return f"{self.prefix}-artifacts"

    @property
    def fleet(self) -> str:
        """The value of the fleet tag (autoscale/providers/ec2.py) on this deployment's worker instances."""
        return self.prefix

    def tags(self) -> dict[str, str]:
        return {OWNER_TAG: self.prefix}

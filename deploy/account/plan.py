"""What the operator asked `manage.py provision` for, and what it hands back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    image_id: str = ""  # the baked worker image; without it there is no launch template yet
    instance_type: str = ""
    vpc_id: str = ""
    expire_inputs_days: int | None = None
    subnets: tuple[str, ...] = ()  # given: an Auto Scaling group across them, for the asg provider
    max_workers: int = 0  # the group's MaxSize (default: AUTOSCALE_MAX)
    # The web tier (with an image and subnets): this many web hosts behind a load balancer, and their database.
    web_hosts: int = 0
    web_instance_type: str = "t3.small"
    database: str = ""  # "rds": made here; "" with database_url: an existing one
    database_url: str = ""
    database_class: str = "db.t4g.micro"
    certificate_arn: str = ""  # an ACM certificate: HTTPS on 443, HTTP redirected to it

    @property
    def web_tier(self) -> bool:
        return bool(self.image_id and self.subnets and self.web_hosts)


@dataclass(frozen=True)
class Provisioned:
    environment: dict[str, str]  # what the web host (and the autoscaler) reads, secrets left out
    web_host_profile: str  # to launch the web host with
    web_host_group: str
    url: str = ""  # the load balancer's, with the web tier

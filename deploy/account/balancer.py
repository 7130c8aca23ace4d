"""The web tier's Application Load Balancer: internet-facing across the given subnets, in a security group of its
own; one target group of the web hosts (the web Auto Scaling group registers them) whose health check is GET
/readyz; an HTTP listener forwarding to it, or with a certificate HTTPS forwarding and HTTP redirecting to it.

A target being taken out of service drains for longer than a synchronous caller may wait (SYNC_WAIT_SECONDS), so
a host replaced or scaled in finishes the callers it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deploy.account.reconcile import carries, tag_list

HEALTH_CHECK = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPath": "/readyz",
    "HealthCheckIntervalSeconds": 15,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200"},
}
DRAIN_SECONDS = 75  # SYNC_WAIT_SECONDS (60) and a little
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _tags(elbv2: Any, arn: str) -> dict[str, str]:
    described = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {t["Key"]: t["Value"] for t in described[0].get("Tags", [])} if described else {}


def _missing(exc: ClientError) -> bool:
    return "NotFound" in exc.response["Error"]["Code"]


@dataclass
class LoadBalancer:
    elbv2: Any
    name: str
    subnets: list[str]
    security_groups: list[str]
    tags: dict[str, str]
    kind: str = "load balancer"

    def describe(self) -> dict[str, Any] | None:
        try:
            balancer = self.elbv2.describe_load_balancers(Names=[self.name])["LoadBalancers"][0]
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return {**balancer, "Tags": _tags(self.elbv2, balancer["LoadBalancerArn"])}

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = []
        if {zone["SubnetId"] for zone in current.get("AvailabilityZones", [])} != set(self.subnets):
            found.append("subnets")
        if set(current.get("SecurityGroups", [])) != set(self.security_groups):
            found.append("security groups")
        if not carries(current["Tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        self.elbv2.create_load_balancer(Name=self.name, Subnets=self.subnets, SecurityGroups=self.security_groups,
                                        Scheme="internet-facing", Type="application", IpAddressType="ipv4",
                                        Tags=tag_list(self.tags))  # fmt: skip
        return self._described()

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        arn = current["LoadBalancerArn"]
        self.elbv2.set_subnets(LoadBalancerArn=arn, Subnets=self.subnets)
        self.elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=self.security_groups)
        self.elbv2.add_tags(ResourceArns=[arn], Tags=tag_list(self.tags))
        return self._described()

    def _described(self) -> dict[str, Any]:
        current = self.describe()
        assert current is not None, f"load balancer {self.name} vanished right after it was made"
        return current

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["LoadBalancerArn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["Tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.elbv2.delete_load_balancer(LoadBalancerArn=current["LoadBalancerArn"])
        self.elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[current["LoadBalancerArn"]])


@dataclass
class TargetGroup:
    elbv2: Any
    name: str
    vpc_id: str | None  # None when only deleting
    tags: dict[str, str]
    kind: str = "target group"

    def describe(self) -> dict[str, Any] | None:
        try:
            group = self.elbv2.describe_target_groups(Names=[self.name])["TargetGroups"][0]
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        attributes = self.elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
        values = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
        return {**group, "Tags": _tags(self.elbv2, group["TargetGroupArn"]), "Values": values}

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = [key for key, value in HEALTH_CHECK.items() if current.get(key) != value]
        if current["Values"].get("deregistration_delay.timeout_seconds") != str(DRAIN_SECONDS):
            found.append("deregistration delay")
        if not carries(current["Tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        assert self.vpc_id, "a target group is made in a VPC"
        made = self.elbv2.create_target_group(Name=self.name, Protocol="HTTP", Port=80, VpcId=self.vpc_id,
                                              TargetType="instance", HealthCheckEnabled=True, **HEALTH_CHECK,
                                              Tags=tag_list(self.tags))  # fmt: skip
        arn = made["TargetGroups"][0]["TargetGroupArn"]
        self._drain(arn)
        current = self.describe()
        assert current is not None
        return current

    def _drain(self, arn: str) -> None:
        self.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(DRAIN_SECONDS)}])  # fmt: skip

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        arn = current["TargetGroupArn"]
        self.elbv2.modify_target_group(TargetGroupArn=arn, **HEALTH_CHECK)
        self._drain(arn)
        self.elbv2.add_tags(ResourceArns=[arn], Tags=tag_list(self.tags))
        updated = self.describe()
        assert updated is not None
        return updated

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["TargetGroupArn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["Tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.elbv2.delete_target_group(TargetGroupArn=current["TargetGroupArn"])


@dataclass
class Listeners:
    """The balancer's listeners as one resource: HTTP forwarding, or HTTPS forwarding plus HTTP redirecting."""

    elbv2: Any
    balancer_arn: str
    target_group_arn: str
    certificate_arn: str
    tags: dict[str, str]
    kind: str = "listeners"
    name: str = "HTTP/HTTPS"

    def wanted(self) -> dict[int, dict[str, Any]]:
        forward = [{"Type": "forward", "TargetGroupArn": self.target_group_arn}]
        if not self.certificate_arn:
            return {80: {"Protocol": "HTTP", "DefaultActions": forward}}
        redirect = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                            "StatusCode": "HTTP_301"}}]  # fmt: skip
        return {80: {"Protocol": "HTTP", "DefaultActions": redirect},
                443: {"Protocol": "HTTPS", "DefaultActions": forward, "SslPolicy": TLS_POLICY,
                      "Certificates": [{"CertificateArn": self.certificate_arn}]}}  # fmt: skip

    def describe(self) -> dict[int, dict[str, Any]] | None:
        if not self.balancer_arn:
            return None
        listeners = self.elbv2.describe_listeners(LoadBalancerArn=self.balancer_arn)["Listeners"]
        return {listener["Port"]: listener for listener in listeners} or None

    @staticmethod
    def _same(have: dict[str, Any], want: dict[str, Any]) -> bool:
        def actions(listener: dict[str, Any]) -> list[tuple[str, str]]:
            return [(a["Type"], a.get("TargetGroupArn") or str(a.get("RedirectConfig", {}).get("Protocol")))
                    for a in listener.get("DefaultActions", [])]  # fmt: skip

        certificates = [c["CertificateArn"] for c in have.get("Certificates", [])]
        wanted_certificates = [c["CertificateArn"] for c in want.get("Certificates", [])]
        return (have["Protocol"], actions(have), certificates) == (want["Protocol"], actions(want),
                                                                    wanted_certificates)  # fmt: skip

    def differences(self, current: dict[int, dict[str, Any]]) -> list[str]:
        wanted = self.wanted()
        found = [f"{want['Protocol']} on {port}" for port, want in wanted.items()
                 if port not in current or not self._same(current[port], want)]  # fmt: skip
        found += [f"remove the listener on {port}" for port in sorted(set(current) - set(wanted))]
        return found

    def create(self) -> dict[int, dict[str, Any]]:
        for port, want in self.wanted().items():
            self.elbv2.create_listener(LoadBalancerArn=self.balancer_arn, Port=port, **want,
                                       Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])  # fmt: skip
        current = self.describe()
        assert current is not None
        return current

    def update(self, current: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        wanted = self.wanted()
        for port, listener in current.items():
            if port not in wanted:
                self.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        for port, want in wanted.items():
            if port in current:
                self.elbv2.modify_listener(ListenerArn=current[port]["ListenerArn"], Port=port, **want)
            else:
                self.elbv2.create_listener(LoadBalancerArn=self.balancer_arn, Port=port, **want,
                                           Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])  # fmt: skip
        updated = self.describe()
        assert updated is not None
        return updated

    def identity(self, current: dict[int, dict[str, Any]]) -> str:
        return ", ".join(f"{listener['Protocol']}:{port}" for port, listener in sorted(current.items()))

    def is_ours(self, current: dict[int, dict[str, Any]]) -> bool:
        return True  # they go with the balancer, which is checked

    def delete(self, current: dict[int, dict[str, Any]]) -> None:
        for listener in current.values():
            self.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])

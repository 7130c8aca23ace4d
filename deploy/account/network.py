"""Security groups in the deployment's VPC: workers with no inbound rule at all (they only call out, to SQS and
S3); the load balancer HTTP and HTTPS from anywhere; the web hosts behind it port 80 from the balancer's group only
(a hand-launched web host without one: HTTP and HTTPS from anywhere); the database 5432 from the web hosts' group.
Outbound stays EC2's default (all), which both need for AWS's APIs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deploy.account.reconcile import carries

WEB_PORTS = (80, 443)
ANYWHERE = {"IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}


class NoVpc(RuntimeError):
    pass


def default_vpc(ec2: Any) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise NoVpc("this region has no default VPC: pass --vpc-id")
    return str(vpcs[0]["VpcId"])


def web_ingress() -> list[dict[str, Any]]:
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **ANYWHERE} for port in WEB_PORTS]


def ingress_from(group_id: str, port: int) -> list[dict[str, Any]]:
    """TCP on one port from the members of another security group only (none yet in a dry run)."""
    if not group_id:
        return []
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group_id}]}]


def _rules(permissions: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    """Ingress permissions as comparable (protocol, from, to, source) tuples."""
    rules: set[tuple[str, int, int, str]] = set()
    for permission in permissions:
        protocol, low, high = permission["IpProtocol"], permission.get("FromPort", -1), permission.get("ToPort", -1)
        sources = [r["CidrIp"] for r in permission.get("IpRanges", [])]
        sources += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
        sources += [g["GroupId"] for g in permission.get("UserIdGroupPairs", [])]
        sources += [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
        rules.update((protocol, low, high, source) for source in sources)
    return rules


def _permission(rule: tuple[str, int, int, str]) -> dict[str, Any]:
    protocol, low, high, source = rule
    permission: dict[str, Any] = {"IpProtocol": protocol, "FromPort": low, "ToPort": high}
    if source.startswith("sg-"):
        permission["UserIdGroupPairs"] = [{"GroupId": source}]
    elif source.startswith("pl-"):
        permission["PrefixListIds"] = [{"PrefixListId": source}]
    elif ":" in source:
        permission["Ipv6Ranges"] = [{"CidrIpv6": source}]
    else:
        permission["IpRanges"] = [{"CidrIp": source}]
    return permission


@dataclass
class SecurityGroup:
    ec2: Any
    name: str
    vpc_id: str | None  # None: wherever it is, found by its owner tag (deprovision)
    description: str
    tags: dict[str, str]
    ingress: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "security group"

    def describe(self) -> dict[str, Any] | None:
        where = ([{"Name": "vpc-id", "Values": [self.vpc_id]}] if self.vpc_id
                 else [{"Name": f"tag:{key}", "Values": [value]} for key, value in self.tags.items()])  # fmt: skip
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [self.name]}, *where])
        return groups["SecurityGroups"][0] if groups["SecurityGroups"] else None

    def _tags(self, current: dict[str, Any]) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in current.get("Tags", [])}

    def differences(self, current: dict[str, Any]) -> list[str]:
        have, want = _rules(current.get("IpPermissions", [])), _rules(self.ingress)
        found = [f"allow {p} {low}-{high} from {s}" for p, low, high, s in sorted(want - have)]
        found += [f"revoke {p} {low}-{high} from {s}" for p, low, high, s in sorted(have - want)]
        if not carries(self._tags(current), self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        tags = [{"Key": "Name", "Value": self.name}] + [{"Key": k, "Value": v} for k, v in self.tags.items()]
        assert self.vpc_id, "a security group is made in a VPC"
        group_id = self.ec2.create_security_group(
            GroupName=self.name, Description=self.description, VpcId=self.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]  # fmt: skip
        if self.ingress:
            self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=self.ingress)
        current = self.describe()
        assert current is not None, f"security group {self.name} vanished right after it was made"
        return current

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        have, want = _rules(current.get("IpPermissions", [])), _rules(self.ingress)
        group = current["GroupId"]
        if have - want:
            self.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[_permission(r) for r in have - want])
        if want - have:
            missing = [_permission(r) for r in want - have]
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=missing)
        self.ec2.create_tags(Resources=[current["GroupId"]],
                             Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])  # fmt: skip
        updated = self.describe()
        assert updated is not None, f"security group {self.name} vanished during its update"
        return updated

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["GroupId"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(self._tags(current), self.tags)

    def delete(self, current: dict[str, Any], attempts: int = 60) -> None:
        """A terminated instance's network interface lets go of its group a little after the instance is gone, and
        a deleted load balancer's a few minutes after."""
        for attempt in range(attempts):
            try:
                self.ec2.delete_security_group(GroupId=current["GroupId"])
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "DependencyViolation" or attempt == attempts - 1:
                    raise
                time.sleep(5)

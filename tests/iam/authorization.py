"""What AWS authorises for each API call: the IAM action(s), the resource ARN(s) and the condition keys, by the
Service Authorization Reference and each service's access-control pages, for every call our tiers make.

An operation not listed here maps to an `unmapped:` request that no policy allows: a new kind of call fails the
check until its authorisation is written down here. The mappings moto gets wrong are the reason this exists
(HeadBucket is s3:ListBucket on the bucket, not s3:HeadBucket; a batch call is its single action; RunInstances
is authorised on every resource it touches, tags what it creates, and passes the instance profile's role).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from tests.iam.evaluator import Request
from tests.iam.recording_endpoint import Call

# What RunInstances makes and may tag (a launch template's TagSpecifications take only these).
LAUNCH_TAGGED = ("instance", "volume", "network-interface", "spot-instances-request")


class World(Protocol):
    """What the authorisation of a call depends on beyond the call itself (read from the account at check time)."""

    account: str

    def instance_tags(self, instance_id: str) -> dict[str, str]: ...

    def group_arn(self, group_name: str) -> str: ...

    def group_of_instance(self, instance_id: str) -> str: ...

    def launch_template(self, template: dict[str, str]) -> dict[str, Any]: ...

    def role_of_profile(self, profile: dict[str, str]) -> str: ...

    def secret_arn(self, secret_id: str) -> str: ...


@dataclass(frozen=True)
class Principal:
    """Who signed: a role's session, and for an instance's credentials the instance (ec2:SourceInstanceARN)."""

    role: str
    session: str
    instance_id: str = ""

    def context(self, region: str, account: str) -> dict[str, list[str]]:
        context = {"aws:principalarn": [f"arn:aws:iam::{account}:role/{self.role}"],
                   "aws:userid": [f"AROA:{self.session}"], "aws:principalaccount": [account]}  # fmt: skip
        if self.instance_id:
            context["ec2:sourceinstancearn"] = [f"arn:aws:ec2:{region}:{account}:instance/{self.instance_id}"]
        return context


def _flat(params: dict[str, Any], prefix: str) -> list[str]:
    """A query-protocol list (Prefix.1, Prefix.2, ...) in order."""
    found = sorted(((int(k[len(prefix) + 1 :]), v) for k, v in params.items()
                    if re.fullmatch(rf"{re.escape(prefix)}\.\d+", k)), key=lambda kv: kv[0])  # fmt: skip
    return [str(v) for _, v in found]


def _query_tags(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """TagSpecification.N.ResourceType / .Tag.M.Key / .Tag.M.Value, by resource type."""
    tags: dict[str, dict[str, str]] = {}
    for key, value in params.items():
        match = re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", key)
        if match:
            n = match[1]
            pairs = {}
            for tag_key, tag_value in params.items():
                tag = re.fullmatch(rf"TagSpecification\.{n}\.Tag\.(\d+)\.Key", tag_key)
                if tag:
                    pairs[str(tag_value)] = str(params.get(f"TagSpecification.{n}.Tag.{tag[1]}.Value", ""))
            tags.setdefault(str(value), {}).update(pairs)
    return tags


def _tag_context(prefix: str, tags: dict[str, str]) -> dict[str, list[str]]:
    context = {f"{prefix}/{key}".lower(): [value] for key, value in tags.items()}
    return context


@dataclass
class Authorization:
    world: World
    region: str
    principal: Principal
    base: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.base = self.principal.context(self.region, self.world.account)

    def request(self, call: Call, action: str, resource: str, **context: list[str]) -> Request:
        keys = {**self.base, **{key.lower(): value for key, value in context.items()}}
        return Request(action, resource, keys, f"{call.service} {call.operation}")

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:aws:{service}:{self.region if region else ''}:{self.world.account if account else ''}:"
                f"{resource}")  # fmt: skip

    def requests(self, call: Call) -> list[Request]:
        handler = getattr(self, f"_{call.service}", None)
        found = handler(call) if handler else None
        if found is None:
            return [self.request(call, f"unmapped:{call.service}:{call.operation}", "*")]
        return found

    # --- S3 -------------------------------------------------------------------------------------------------------
    def _s3(self, call: Call) -> list[Request] | None:
        bucket, key = call.params.get("Bucket", ""), call.params.get("Key", "")
        bucket_arn, object_arn = f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{key}"
        on_object = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
                     "DeleteObject": "s3:DeleteObject", "CreateMultipartUpload": "s3:PutObject",
                     "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
                     "AbortMultipartUpload": "s3:AbortMultipartUpload", "GetObjectTagging": "s3:GetObjectTagging",
                     "PutObjectTagging": "s3:PutObjectTagging", "ListParts": "s3:ListMultipartUploadParts"}  # fmt: skip
        on_bucket = {"HeadBucket": "s3:ListBucket", "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket",
                     "ListObjectVersions": "s3:ListBucketVersions", "CreateBucket": "s3:CreateBucket",
                     "DeleteBucket": "s3:DeleteBucket"}  # fmt: skip
        if call.operation in on_object:
            return [self.request(call, on_object[call.operation], object_arn)]
        if call.operation in on_bucket:
            return [self.request(call, on_bucket[call.operation], bucket_arn)]
        if call.operation == "DeleteObjects":
            return [self.request(call, "s3:DeleteObject", f"{bucket_arn}/{k}") for k in call.params.get("Keys", [])]
        if call.operation == "ListBuckets":
            return [self.request(call, "s3:ListAllMyBuckets", "*")]
        return None

    # --- SQS ------------------------------------------------------------------------------------------------------
    def _sqs(self, call: Call) -> list[Request] | None:
        params = call.params
        name = params.get("QueueName") or urlparse(str(params.get("QueueUrl", ""))).path.rstrip("/").split("/")[-1]
        if call.operation == "ListQueues":
            return [self.request(call, "sqs:ListQueues", self.arn("sqs", "*"))]
        batches = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                   "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}  # fmt: skip
        single = batches.get(call.operation, call.operation)
        if single in ("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueUrl",
                      "GetQueueAttributes", "SetQueueAttributes", "CreateQueue", "DeleteQueue", "PurgeQueue",
                      "ListQueueTags", "TagQueue", "StartMessageMoveTask"):  # fmt: skip
            return [self.request(call, f"sqs:{single}", self.arn("sqs", name))]
        return None

    # --- EC2 ------------------------------------------------------------------------------------------------------
    def _ec2(self, call: Call) -> list[Request] | None:
        params = call.params
        if call.operation.startswith("Describe"):  # no resource-level permissions
            return [self.request(call, f"ec2:{call.operation}", "*")]
        if call.operation == "TerminateInstances":
            found = []
            for instance_id in _flat(params, "InstanceId"):
                arn = self.arn("ec2", f"instance/{instance_id}")
                tags = self.world.instance_tags(instance_id)
                found.append(self.request(call, "ec2:TerminateInstances", arn, **{"aws:ARN": [arn]},
                                          **_tag_context("aws:ResourceTag", tags),
                                          **_tag_context("ec2:ResourceTag", tags)))  # fmt: skip
            return found
        if call.operation == "CreateTags":
            tags = {str(params[k]): str(params.get(k[:-3] + "Value", "")) for k in params
                    if re.fullmatch(r"Tag\.\d+\.Key", k)}  # fmt: skip
            found = []
            for resource_id in _flat(params, "ResourceId"):
                kind = {"i": "instance", "vol": "volume", "sg": "security-group", "lt": "launch-template"}.get(
                    resource_id.split("-")[0], "unknown"
                )
                found.append(self.request(call, "ec2:CreateTags", self.arn("ec2", f"{kind}/{resource_id}"),
                                          **_tag_context("aws:RequestTag", tags),
                                          **{"aws:TagKeys": sorted(tags)}))  # fmt: skip
            return found
        if call.operation == "RunInstances":
            return self._run_instances(call)
        return None

    def _run_instances(self, call: Call) -> list[Request]:
        params = call.params
        template_ref = {k.split(".", 1)[1]: str(v) for k, v in params.items() if k.startswith("LaunchTemplate.")}
        template = self.world.launch_template(template_ref) if template_ref else {}
        data = template.get("LaunchTemplateData", {})
        image = str(params.get("ImageId") or data.get("ImageId", ""))
        groups = _flat(params, "SecurityGroupId") or list(data.get("SecurityGroupIds", []))
        subnet = str(params.get("SubnetId") or "default-subnet")
        tags: dict[str, dict[str, str]] = {}
        # A template tags only what an instance launch makes (moto also lists the template's own tags there).
        for spec in [s for s in data.get("TagSpecifications", []) if s["ResourceType"] in LAUNCH_TAGGED]:
            tags.setdefault(spec["ResourceType"], {}).update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
        for kind, pairs in _query_tags(params).items():
            tags.setdefault(kind, {}).update(pairs)

        # The tag conditions hold only where the request makes and tags a resource (instance, volume, network
        # interface), each with its own tags; the image, subnet, security groups and template it uses have none.
        def made(kind: str) -> dict[str, list[str]]:
            pairs = tags.get(kind, {})
            return {**_tag_context("aws:RequestTag", pairs), "aws:TagKeys": sorted(pairs)} if pairs else {}

        found = [self.request(call, "ec2:RunInstances", self.arn("ec2", f"{kind}/*"), **made(kind))
                 for kind in ("instance", "volume", "network-interface")]  # fmt: skip
        used = [self.arn("ec2", f"image/{image}", account=False), self.arn("ec2", f"subnet/{subnet}"),
                *(self.arn("ec2", f"security-group/{group}") for group in groups)]  # fmt: skip
        if template:
            used.append(self.arn("ec2", f"launch-template/{template['LaunchTemplateId']}"))
        found += [self.request(call, "ec2:RunInstances", resource) for resource in used]
        for kind in tags:
            found.append(self.request(call, "ec2:CreateTags", self.arn("ec2", f"{kind}/*"),
                                      **{**made(kind), "ec2:CreateAction": ["RunInstances"]}))  # fmt: skip
        profile = {k.split(".", 1)[1]: str(v) for k, v in params.items() if k.startswith("IamInstanceProfile.")}
        profile = profile or dict(data.get("IamInstanceProfile", {}))
        if profile:
            role = self.world.role_of_profile(profile)
            found.append(self.request(call, "iam:PassRole", f"arn:aws:iam::{self.world.account}:role/{role}",
                                      **{"iam:PassedToService": ["ec2.amazonaws.com"]}))  # fmt: skip
        return found

    # --- Auto Scaling ---------------------------------------------------------------------------------------------
    def _autoscaling(self, call: Call) -> list[Request] | None:
        params = call.params
        if call.operation.startswith("Describe"):
            return [self.request(call, f"autoscaling:{call.operation}", "*")]
        if call.operation in ("SetDesiredCapacity", "UpdateAutoScalingGroup"):
            arn = self.world.group_arn(str(params["AutoScalingGroupName"]))
            return [self.request(call, f"autoscaling:{call.operation}", arn)]
        if call.operation == "TerminateInstanceInAutoScalingGroup":
            arn = self.world.group_arn(self.world.group_of_instance(str(params["InstanceId"])))
            return [self.request(call, "autoscaling:TerminateInstanceInAutoScalingGroup", arn)]
        return None

    # --- configuration and secrets --------------------------------------------------------------------------------
    def _parameter_arn(self, name: str) -> str:
        return self.arn("ssm", f"parameter/{name.lstrip('/')}")

    def _ssm(self, call: Call) -> list[Request] | None:
        params = call.params
        if call.operation == "GetParameter":
            return [self.request(call, "ssm:GetParameter", self._parameter_arn(params["Name"]))]
        if call.operation == "GetParameters":
            return [self.request(call, "ssm:GetParameters", self._parameter_arn(n)) for n in params["Names"]]
        if call.operation == "GetParametersByPath":
            return [self.request(call, "ssm:GetParametersByPath", self._parameter_arn(params["Path"]))]
        return None

    def _secretsmanager(self, call: Call) -> list[Request] | None:
        if call.operation in ("GetSecretValue", "DescribeSecret"):
            arn = self.world.secret_arn(str(call.params["SecretId"]))
            return [self.request(call, f"secretsmanager:{call.operation}", arn)]
        return None

    def _sts(self, call: Call) -> list[Request] | None:
        if call.operation == "GetCallerIdentity":
            return []  # needs no permission
        return None

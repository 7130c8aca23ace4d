"""What each recorded call asks AWS to authorise, and how the recording endpoint reads calls off the wire."""

from __future__ import annotations

import io
import json
from typing import Any

from tests.iam.authorization import Authorization, Principal
from tests.iam.evaluator import evaluate
from tests.iam.recording_endpoint import Call, identify

ACCOUNT, REGION = "123456789012", "us-east-1"


class FakeWorld:
    account = ACCOUNT

    def instance_tags(self, instance_id: str) -> dict[str, str]:
        return {"autoscale:fleet": "box"} if instance_id == "i-ours" else {}

    def group_arn(self, group_name: str) -> str:
        return f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:uuid:autoScalingGroupName/{group_name}"

    def group_of_instance(self, instance_id: str) -> str:
        return "box-workers"

    def launch_template(self, template: dict[str, str]) -> dict[str, Any]:
        return {"LaunchTemplateId": "lt-1", "LaunchTemplateData": {
            "ImageId": "ami-1", "SecurityGroupIds": ["sg-1"], "IamInstanceProfile": {"Name": "box-worker"},
            "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "owner", "Value": "box"}]}]}}  # fmt: skip

    def role_of_profile(self, profile: dict[str, str]) -> str:
        return profile["Name"]

    def secret_arn(self, secret_id: str) -> str:
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret_id}-AbCdEf"


def authorization(instance: str = "") -> Authorization:
    return Authorization(FakeWorld(), REGION, Principal("box-web-host", "web-1", instance))


def asked(call: Call, instance: str = "") -> list[tuple[str, str]]:
    return [(r.action, r.resource) for r in authorization(instance).requests(call)]


def test_head_bucket_is_list_bucket_on_the_bucket_and_head_object_is_get_object() -> None:
    assert asked(Call("k", REGION, "s3", "HeadBucket", {"Bucket": "box-outputs", "Key": ""})) == [
        ("s3:ListBucket", "arn:aws:s3:::box-outputs")
    ]
    assert asked(Call("k", REGION, "s3", "HeadObject", {"Bucket": "b", "Key": "a/b.jpg"})) == [
        ("s3:GetObject", "arn:aws:s3:::b/a/b.jpg")
    ]
    assert asked(Call("k", REGION, "s3", "DeleteObjects", {"Bucket": "b", "Keys": ["x", "y"]})) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/x"), ("s3:DeleteObject", "arn:aws:s3:::b/y")]  # fmt: skip


def test_a_batch_is_its_single_action_on_the_queue_its_url_names() -> None:
    url = f"http://127.0.0.1:5000/{ACCOUNT}/box-classify"
    assert asked(Call("k", REGION, "sqs", "SendMessageBatch", {"QueueUrl": url})) == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:box-classify")
    ]
    assert asked(Call("k", REGION, "sqs", "GetQueueUrl", {"QueueName": "box-results"})) == [
        ("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{ACCOUNT}:box-results")
    ]


def test_run_instances_touches_each_resource_tags_what_it_makes_and_passes_the_role() -> None:
    params = {"LaunchTemplate.LaunchTemplateId": "lt-1", "MinCount": "1", "MaxCount": "1",
              "TagSpecification.1.ResourceType": "instance", "TagSpecification.1.Tag.1.Key": "autoscale:fleet",
              "TagSpecification.1.Tag.1.Value": "box"}  # fmt: skip
    requests = authorization().requests(Call("k", REGION, "ec2", "RunInstances", params))
    run = {r.resource for r in requests if r.action == "ec2:RunInstances"}
    assert run == {f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}" for kind in (
        "instance/*", "volume/*", "network-interface/*", "subnet/default-subnet", "security-group/sg-1",
        "launch-template/lt-1")} | {f"arn:aws:ec2:{REGION}::image/ami-1"}  # fmt: skip
    tags = [r for r in requests if r.action == "ec2:CreateTags"]
    assert {r.resource.rsplit(":", 1)[1] for r in tags} == {"instance/*", "volume/*"}
    assert all(r.key("ec2:CreateAction") == ["RunInstances"] for r in tags)
    instance = [r for r in requests if r.resource.endswith(":instance/*")]
    assert all(r.key("aws:RequestTag/autoscale:fleet") == ["box"] for r in instance) and len(instance) == 2
    volume = [r for r in requests if r.resource.endswith(":volume/*")]  # its own tags, from the template
    assert all(r.key("aws:RequestTag/owner") == ["box"] and not r.key("aws:RequestTag/autoscale:fleet")
               for r in volume)  # fmt: skip
    image = [r for r in requests if ":image/" in r.resource]  # used, not made: no request tags
    assert [r.key("aws:TagKeys") for r in image] == [None]
    passed = [r for r in requests if r.action == "iam:PassRole"]
    assert [(r.resource, r.key("iam:PassedToService")) for r in passed] == [
        (f"arn:aws:iam::{ACCOUNT}:role/box-worker", ["ec2.amazonaws.com"])]  # fmt: skip


def test_terminating_an_instance_carries_its_tags_and_arn_and_the_caller_s_instance() -> None:
    call = Call("k", REGION, "ec2", "TerminateInstances", {"InstanceId.1": "i-ours"})
    [request] = authorization("i-ours").requests(call)
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-ours"
    assert (request.resource, request.key("aws:ARN"), request.key("ec2:SourceInstanceARN")) == (arn, [arn], [arn])
    assert request.key("aws:ResourceTag/autoscale:fleet") == ["box"]


def test_an_unknown_call_is_denied_until_its_authorisation_is_written_down() -> None:
    [request] = authorization().requests(Call("k", REGION, "s3", "GetBucketAcl", {"Bucket": "b"}))
    assert request.action == "unmapped:s3:GetBucketAcl"
    everything = {"Statement": [{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert not evaluate([everything], request).allowed


def _environ(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(b""),
            **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}  # fmt: skip


def _signed(service: str, key: str = "ASIAWEB") -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={key}/20261207/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )


def test_the_recorder_reads_rest_json_and_query_calls() -> None:
    head = identify(_environ("HEAD", "/box-outputs", authorization=_signed("s3")), b"")
    assert (head.key, head.service, head.operation, head.params["Bucket"]) == ("ASIAWEB", "s3", "HeadBucket",
                                                                             "box-outputs")  # fmt: skip
    put = identify(_environ("PUT", "/box-inputs/uploads/a%20b.jpg", authorization=_signed("s3")), b"...")
    assert (put.operation, put.params["Key"]) == ("PutObject", "uploads/a b.jpg")
    body = json.dumps({"QueueUrl": "http://h/1/q", "Entries": []}).encode()
    sent = identify(_environ("POST", "/", authorization=_signed("sqs"), x_amz_target="AmazonSQS.SendMessageBatch"),
                    body)  # fmt: skip
    assert (sent.service, sent.operation, sent.params["QueueUrl"]) == ("sqs", "SendMessageBatch", "http://h/1/q")
    ran = identify(_environ("POST", "/", authorization=_signed("ec2")), b"Action=RunInstances&Version=2016-11-15"
                   b"&ImageId=ami-1&TagSpecification.1.ResourceType=instance")  # fmt: skip
    assert (ran.operation, ran.params["ImageId"], ran.params["TagSpecification.1.ResourceType"]) == (
        "RunInstances", "ami-1", "instance")  # fmt: skip
    objects = b"<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object></Delete>"
    deleted = identify(_environ("POST", "/b", "delete", authorization=_signed("s3")), objects)
    assert (deleted.operation, deleted.params["Keys"]) == ("DeleteObjects", ["a&b", "c"])

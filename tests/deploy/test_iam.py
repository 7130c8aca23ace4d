"""The IAM policy documents under deploy/iam/ stay least-privilege."""

import json

import pytest

from tests.conftest import ROOT

IAM = ROOT / "deploy" / "iam"


def _statements(name: str) -> list[dict]:
    document = json.loads((IAM / name).read_text())
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def _actions(statements: list[dict]) -> set[str]:
    return {action for statement in statements for action in statement["Action"]}


@pytest.mark.parametrize("name", ["worker-policy.json", "web-host-policy.json"])
def test_no_wildcard_actions_and_only_allow(name: str) -> None:
    for statement in _statements(name):
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"]), statement["Sid"]


def test_workers_only_read_inputs_write_outputs_use_their_queues_and_leave_their_group() -> None:
    statements = _statements("worker-policy.json")
    assert _actions(statements) == {
        "s3:GetObject", "s3:PutObject", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueues",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }  # fmt: skip
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert by_sid["ReadInputs"]["Resource"] == ["arn:aws:s3:::INPUT_BUCKET/*"]
    assert by_sid["WriteOutputs"]["Resource"] == ["arn:aws:s3:::OUTPUT_BUCKET/*"]
    assert by_sid["SendResults"]["Action"] == ["sqs:GetQueueUrl", "sqs:SendMessage"]
    assert by_sid["LeaveItsGroupWhenIdle"]["Resource"] == [
        "arn:aws:autoscaling:REGION:ACCOUNT_ID:autoScalingGroup:*:autoScalingGroupName/ASG_NAME"
    ]
    for statement in statements:
        assert statement["Resource"] != "*"


def test_the_web_host_launches_and_terminates_only_its_tagged_fleet() -> None:
    by_sid = {statement["Sid"]: statement for statement in _statements("web-host-policy.json")}
    assert "aws:RequestTag/autoscale:fleet" in json.dumps(by_sid["AutoscalerLaunchesTaggedWorkers"]["Condition"])
    assert "aws:ResourceTag/autoscale:fleet" in json.dumps(by_sid["AutoscalerTerminatesOnlyItsFleet"]["Condition"])
    assert by_sid["PassOnlyTheWorkerRole"]["Resource"] == ["arn:aws:iam::ACCOUNT_ID:role/WORKER_ROLE"]
    # It deletes only inputs, and only those of an upload it refused after storing (classifier/intake/acceptance.py).
    deletes = [statement for statement in by_sid.values() if "s3:DeleteObject" in statement["Action"]]
    assert [statement["Sid"] for statement in deletes] == ["ForgetRefusedUploads"]
    assert deletes[0]["Action"] == ["s3:DeleteObject"]
    assert deletes[0]["Resource"] == ["arn:aws:s3:::INPUT_BUCKET/*"]
    # Nothing of the outputs bucket: the workers alone write results, and the web tier records them from the queue.
    assert "OUTPUT_BUCKET" not in json.dumps(list(by_sid.values()))
    # Each queue only for what the web host does with it: no receiving tasks, no sending results.
    assert by_sid["SendTasks"]["Resource"] == ["arn:aws:sqs:REGION:ACCOUNT_ID:QUEUE_PREFIXclassify"]
    assert "sqs:ReceiveMessage" not in by_sid["SendTasks"]["Action"]
    assert "sqs:SendMessage" not in by_sid["ConsumeResults"]["Action"]
    assert not {"sqs:CreateQueue", "sqs:SetQueueAttributes"} & _actions(list(by_sid.values()))


# Whether each permission is needed, and enough, is shown by the run itself: tests/integration/test_ec2_in_a_box.py
# judges every call each tier makes against its role's policy (tests/iam/).

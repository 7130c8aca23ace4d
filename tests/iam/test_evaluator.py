"""The policy evaluator against the rules of AWS's policy evaluation logic, case by case."""

from __future__ import annotations

import pytest

from tests.iam.evaluator import Request, Unsupported, evaluate


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str], **extra: object) -> dict:
    return {"Sid": "Granted", "Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_granted_is_an_implicit_deny() -> None:
    decision = evaluate([policy()], Request("s3:GetObject", "arn:aws:s3:::b/k"))
    assert (decision.allowed, decision.reason) == (False, "no statement allows it")


def test_actions_match_without_case_and_with_wildcards() -> None:
    granted = policy(allow(["S3:Get*", "sqs:?endMessage"], "*"))
    assert evaluate([granted], Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert evaluate([granted], Request("sqs:SendMessage", "arn:aws:sqs:r:1:q")).allowed
    assert not evaluate([granted], Request("s3:PutObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate([granted], Request("sqs:SendMessageBatch", "arn:aws:sqs:r:1:q")).allowed


def test_a_bucket_is_not_its_objects() -> None:
    objects = policy(allow("s3:ListBucket", "arn:aws:s3:::inputs/*"))
    assert not evaluate([objects], Request("s3:ListBucket", "arn:aws:s3:::inputs")).allowed
    bucket = policy(allow("s3:ListBucket", "arn:aws:s3:::inputs"))
    assert evaluate([bucket], Request("s3:ListBucket", "arn:aws:s3:::inputs")).allowed
    assert not evaluate([bucket], Request("s3:ListBucket", "arn:aws:s3:::inputs-other")).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    both = policy(allow("s3:*", "*"), {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject",
                                       "Resource": "*"})  # fmt: skip
    decision = evaluate([both], Request("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert (decision.allowed, decision.reason) == (False, "explicitly denied by NoDeletes")


def test_not_action_and_not_resource() -> None:
    granted = policy({"Sid": "AllButIam", "Effect": "Allow", "NotAction": "iam:*",
                      "NotResource": "arn:aws:s3:::secret/*"})  # fmt: skip
    assert evaluate([granted], Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate([granted], Request("iam:PassRole", "arn:aws:iam::1:role/r")).allowed
    assert not evaluate([granted], Request("s3:GetObject", "arn:aws:s3:::secret/k")).allowed


def test_a_condition_on_a_tag_needs_the_tag_with_its_value() -> None:
    tagged = policy(allow("ec2:RunInstances", "*",
                          Condition={"StringEquals": {"aws:RequestTag/autoscale:fleet": "prod"}}))  # fmt: skip
    run = "arn:aws:ec2:r:1:instance/*"
    assert evaluate([tagged], Request("ec2:RunInstances", run, {"aws:requesttag/autoscale:fleet": ["prod"]})).allowed
    assert not evaluate([tagged], Request("ec2:RunInstances", run, {"aws:requesttag/autoscale:fleet": ["x"]})).allowed
    assert not evaluate([tagged], Request("ec2:RunInstances", run)).allowed  # absent: the condition fails


def test_an_unmet_condition_of_an_allow_leaves_other_statements_to_allow() -> None:
    two = policy(allow("ec2:RunInstances", "*", Condition={"StringEquals": {"aws:RequestTag/t": "v"}}),
                 {**allow("ec2:RunInstances", "arn:aws:ec2:r::image/*"), "Sid": "Images"})  # fmt: skip
    decision = evaluate([two], Request("ec2:RunInstances", "arn:aws:ec2:r::image/ami-1"))
    assert (decision.allowed, decision.reason) == (True, "allowed by Images")


def test_policy_variables_in_conditions_and_resources() -> None:
    itself = policy(allow("ec2:TerminateInstances", "arn:aws:ec2:r:1:instance/*",
                          Condition={"StringEquals": {"aws:ARN": "${ec2:SourceInstanceARN}"}}))  # fmt: skip
    own = "arn:aws:ec2:r:1:instance/i-1"
    context = {"aws:arn": [own], "ec2:sourceinstancearn": [own]}
    assert evaluate([itself], Request("ec2:TerminateInstances", own, context)).allowed
    peer = {"aws:arn": ["arn:aws:ec2:r:1:instance/i-2"], "ec2:sourceinstancearn": [own]}
    assert not evaluate([itself], Request("ec2:TerminateInstances", "arn:aws:ec2:r:1:instance/i-2", peer)).allowed
    assert not evaluate([itself], Request("ec2:TerminateInstances", own, {"aws:arn": [own]})).allowed  # no instance
    home = policy(allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"))
    mine = {"aws:username": ["ann"]}
    assert evaluate([home], Request("s3:GetObject", "arn:aws:s3:::b/ann/k", mine)).allowed
    assert not evaluate([home], Request("s3:GetObject", "arn:aws:s3:::b/bob/k", mine)).allowed
    assert not evaluate([home], Request("s3:GetObject", "arn:aws:s3:::b/ann/k")).allowed
    literal = policy(allow("s3:GetObject", "arn:aws:s3:::b/${*}"))
    assert evaluate([literal], Request("s3:GetObject", "arn:aws:s3:::b/*")).allowed
    assert not evaluate([literal], Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed


def test_negated_operators_hold_for_an_absent_key_and_if_exists_too() -> None:
    negated = policy(allow("s3:GetObject", "*", Condition={"StringNotEquals": {"aws:RequestTag/t": "v"}}))
    assert evaluate([negated], Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    if_exists = policy(allow("s3:GetObject", "*", Condition={"StringEqualsIfExists": {"s3:prefix": "a"}}))
    assert evaluate([if_exists], Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate([if_exists], Request("s3:GetObject", "arn:aws:s3:::b/k", {"s3:prefix": ["b"]})).allowed


def test_set_qualifiers_on_multivalued_keys() -> None:
    only = policy(allow("ec2:CreateTags", "*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))
    assert evaluate([only], Request("ec2:CreateTags", "*", {"aws:tagkeys": ["a"]})).allowed
    assert not evaluate([only], Request("ec2:CreateTags", "*", {"aws:tagkeys": ["a", "c"]})).allowed
    some = policy(allow("ec2:CreateTags", "*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "x*"}}))
    assert evaluate([some], Request("ec2:CreateTags", "*", {"aws:tagkeys": ["a", "xy"]})).allowed
    assert not evaluate([some], Request("ec2:CreateTags", "*", {"aws:tagkeys": ["a"]})).allowed


def test_arn_operators_compare_segment_by_segment() -> None:
    passed = policy(allow("iam:PassRole", "*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:1:*"}}))
    assert evaluate([passed], Request("iam:PassRole", "*", {"aws:sourcearn": ["arn:aws:ec2:r:1:instance/i"]})).allowed
    assert not evaluate([passed], Request("iam:PassRole", "*", {"aws:sourcearn": ["arn:aws:ec2:r:2:x"]})).allowed


def test_what_it_cannot_judge_raises_rather_than_passes() -> None:
    unknown = policy(allow("s3:GetObject", "*", Condition={"IpAddressish": {"aws:SourceIp": "10.0.0.0/8"}}))
    with pytest.raises(Unsupported):
        evaluate([unknown], Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:sourceip": ["10.0.0.1"]}))
    with pytest.raises(Unsupported):
        evaluate([policy({"Sid": "P", "Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"})],
                 Request("s3:GetObject", "x"))  # fmt: skip

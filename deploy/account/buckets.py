"""The inputs and outputs buckets: public access blocked (all four settings), encrypted by default (SSE-S3: no key
to manage, no per-request KMS charge), tagged as ours, and for inputs an optional expiry rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deploy.account.reconcile import carries

BLOCK_ALL_PUBLIC_ACCESS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
EXPIRY_RULE_ID = "expire-inputs"
_MISSING = {"404", "NoSuchBucket", "NotFound"}


class ForeignBucket(RuntimeError):
    """The name is taken by another account (bucket names are global)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class Bucket:
    s3: Any
    name: str
    region: str
    tags: dict[str, str]
    expire_after_days: int | None = None
    kind: str = "bucket"

    def describe(self) -> dict[str, Any] | None:
        try:
            self.s3.head_bucket(Bucket=self.name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            if _code(exc) in ("403", "Forbidden", "AccessDenied"):
                message = f"bucket {self.name} belongs to another AWS account: choose another prefix"
                raise ForeignBucket(message) from None
            raise
        return {
            "public_access": self._read("get_public_access_block", "PublicAccessBlockConfiguration", {}),
            "encryption": self._read("get_bucket_encryption", "ServerSideEncryptionConfiguration", {}),
            "lifecycle": self._read("get_bucket_lifecycle_configuration", "Rules", []),
            "tags": {t["Key"]: t["Value"] for t in self._read("get_bucket_tagging", "TagSet", [])},
        }

    def _read(self, call: str, key: str, absent: Any) -> Any:
        try:
            return getattr(self.s3, call)(Bucket=self.name)[key]
        except ClientError as exc:
            if _code(exc).startswith("NoSuch") or "NotFound" in _code(exc):
                return absent  # not configured yet
            raise

    def _expiry_rules(self, current_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The bucket's lifecycle rules with ours as it should be (another rule someone added stays)."""
        rules = [rule for rule in current_rules if rule.get("ID") != EXPIRY_RULE_ID]
        if self.expire_after_days:
            rules.append({"ID": EXPIRY_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                          "Expiration": {"Days": self.expire_after_days}})  # fmt: skip
        return rules

    def differences(self, current: dict[str, Any]) -> list[str]:
        found: list[str] = []
        if current["public_access"] != BLOCK_ALL_PUBLIC_ACCESS:
            found.append("block all public access")
        rules = current["encryption"].get("Rules", [{}])
        if rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") not in ("AES256", "aws:kms"):
            found.append("default encryption")
        ours = [rule for rule in current["lifecycle"] if rule.get("ID") == EXPIRY_RULE_ID]
        days = ours[0].get("Expiration", {}).get("Days") if ours else None
        if days != self.expire_after_days:
            found.append(f"expire objects after {self.expire_after_days} days" if self.expire_after_days
                         else "no expiry")  # fmt: skip
        if not carries(current["tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.name}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**params)
        return self.update({"public_access": {}, "encryption": {}, "lifecycle": [], "tags": {}})

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        self.s3.put_public_access_block(Bucket=self.name, PublicAccessBlockConfiguration=BLOCK_ALL_PUBLIC_ACCESS)
        self.s3.put_bucket_encryption(Bucket=self.name, ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION)
        rules = self._expiry_rules(current["lifecycle"])
        if rules:
            self.s3.put_bucket_lifecycle_configuration(Bucket=self.name, LifecycleConfiguration={"Rules": rules})
        elif current["lifecycle"]:
            self.s3.delete_bucket_lifecycle(Bucket=self.name)
        tags = {**current["tags"], **self.tags}
        self.s3.put_bucket_tagging(Bucket=self.name,
                                   Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})  # fmt: skip
        return {"public_access": BLOCK_ALL_PUBLIC_ACCESS, "encryption": DEFAULT_ENCRYPTION, "lifecycle": rules,
                "tags": tags}  # fmt: skip

    def identity(self, current: dict[str, Any]) -> str:
        return self.name

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        """Emptied first (every version and delete marker, should versioning have been turned on), then deleted."""
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.name):
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]  # fmt: skip
            if objects:
                self.s3.delete_objects(Bucket=self.name, Delete={"Objects": objects, "Quiet": True})
        self.s3.delete_bucket(Bucket=self.name)

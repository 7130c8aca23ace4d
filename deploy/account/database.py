"""The web hosts' database with `--database rds`: RDS PostgreSQL, encrypted at rest, not publicly accessible, in a
subnet group of the deployment's subnets and a security group that admits the web hosts' group only, on 5432. Its
master password is generated into the deployment's secret (deploy/account/configuration.py) and given to RDS once;
the web hosts build their DATABASE_URL from it at boot.

Deleted without a final snapshot: deprovision deletes the buckets' images and results too, after confirmation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deploy.account.reconcile import carries, tag_list

ENGINE = "postgres"
PORT = 5432
DATABASE_NAME = "classifier"
MASTER_USER = "classifier"
STORAGE_GIB = 20
BACKUP_DAYS = 7


def _tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}


@dataclass
class DatabaseSubnetGroup:
    rds: Any
    name: str
    subnets: list[str]
    tags: dict[str, str]
    kind: str = "database subnet group"

    def describe(self) -> dict[str, Any] | None:
        try:
            group = self.rds.describe_db_subnet_groups(DBSubnetGroupName=self.name)["DBSubnetGroups"][0]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "DBSubnetGroupNotFoundFault":
                return None
            raise
        return {**group, "Tags": _tags(self.rds, group["DBSubnetGroupArn"])}

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = []
        if {subnet["SubnetIdentifier"] for subnet in current.get("Subnets", [])} != set(self.subnets):
            found.append("subnets")
        if not carries(current["Tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        self.rds.create_db_subnet_group(DBSubnetGroupName=self.name, SubnetIds=self.subnets,
                                        DBSubnetGroupDescription="classifier database: the deployment's subnets",
                                        Tags=tag_list(self.tags))  # fmt: skip
        current = self.describe()
        assert current is not None
        return current

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        self.rds.modify_db_subnet_group(DBSubnetGroupName=self.name, SubnetIds=self.subnets)
        self.rds.add_tags_to_resource(ResourceName=current["DBSubnetGroupArn"], Tags=tag_list(self.tags))
        updated = self.describe()
        assert updated is not None
        return updated

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["DBSubnetGroupArn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["Tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.rds.delete_db_subnet_group(DBSubnetGroupName=self.name)


@dataclass
class DatabaseInstance:
    rds: Any
    name: str
    instance_class: str
    subnet_group: str
    security_groups: list[str]
    password: str  # "" when only describing or deleting
    tags: dict[str, str]
    kind: str = "database"
    patience: float = 1800.0  # RDS takes minutes to make an instance, and to delete one

    def describe(self) -> dict[str, Any] | None:
        try:
            instance = self.rds.describe_db_instances(DBInstanceIdentifier=self.name)["DBInstances"][0]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "DBInstanceNotFound":
                return None
            raise
        if instance.get("DBInstanceStatus") == "deleting":
            return None
        return {**instance, "Tags": _tags(self.rds, instance["DBInstanceArn"])}

    def settings(self) -> dict[str, Any]:
        return {"DBInstanceClass": self.instance_class, "Engine": ENGINE, "StorageEncrypted": True,
                "PubliclyAccessible": False, "BackupRetentionPeriod": BACKUP_DAYS}  # fmt: skip

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = [key for key, value in self.settings().items() if current.get(key) != value]
        groups = {group["VpcSecurityGroupId"] for group in current.get("VpcSecurityGroups", [])}
        if groups != set(self.security_groups):
            found.append("security groups")
        if not carries(current["Tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        assert self.password, "the database's password comes from the deployment's secret"
        self.rds.create_db_instance(
            DBInstanceIdentifier=self.name, AllocatedStorage=STORAGE_GIB, StorageType="gp3", DBName=DATABASE_NAME,
            MasterUsername=MASTER_USER, MasterUserPassword=self.password, Port=PORT,
            DBSubnetGroupName=self.subnet_group, VpcSecurityGroupIds=self.security_groups, AutoMinorVersionUpgrade=True,
            DeletionProtection=False, CopyTagsToSnapshot=True, Tags=tag_list(self.tags), **self.settings(),
        )  # fmt: skip
        return self._available()

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        """Encryption cannot be added to an instance in place: that difference is reported, never applied."""
        if not current.get("StorageEncrypted"):
            raise ClientError({"Error": {"Code": "CannotEncryptInPlace", "Message": (
                f"database {self.name} exists unencrypted: snapshot it, restore the snapshot encrypted, then run "
                "provision again")}}, "ModifyDBInstance")  # fmt: skip
        self.rds.modify_db_instance(DBInstanceIdentifier=self.name, DBInstanceClass=self.instance_class,
                                    VpcSecurityGroupIds=self.security_groups, PubliclyAccessible=False,
                                    BackupRetentionPeriod=BACKUP_DAYS, ApplyImmediately=True)  # fmt: skip
        self.rds.add_tags_to_resource(ResourceName=current["DBInstanceArn"], Tags=tag_list(self.tags))
        return self._available()

    def _available(self) -> dict[str, Any]:
        """Its endpoint is known once it is available (the hosts' configuration needs the address)."""
        deadline = time.monotonic() + self.patience
        while True:
            current = self.describe()
            if current is not None and current.get("DBInstanceStatus") == "available" and current.get("Endpoint"):
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"database {self.name} not available after {self.patience:.0f} s")
            time.sleep(15)

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["DBInstanceArn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["Tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.rds.delete_db_instance(DBInstanceIdentifier=self.name, SkipFinalSnapshot=True,
                                    DeleteAutomatedBackups=True)  # fmt: skip
        deadline = time.monotonic() + self.patience
        while True:
            try:
                self.rds.describe_db_instances(DBInstanceIdentifier=self.name)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "DBInstanceNotFound":
                    return
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"database {self.name} still being deleted after {self.patience:.0f} s")
            time.sleep(15)

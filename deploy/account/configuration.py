"""The web hosts' configuration: plain settings as SSM parameters under one path (one per variable, free in the
standard tier), secrets generated once into one Secrets Manager secret. The hosts read both at boot through their
role (deploy/host_config.py); neither is in user data, a launch template, a log line or provision's output.

A secret is generated when it is missing and never again: a second provision keeps the hosts' sessions and the
scraper's token. A value the operator gives (an existing database's URL) replaces the stored one when it changes.
Differences are reported by key name only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy.account.reconcile import carries, tag_list


def parameters_under(ssm: Any, path: str) -> dict[str, str]:
    """Every parameter directly under `path`, by its last name (what provision keeps, what a web host reads)."""
    found = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
        for parameter in page["Parameters"]:
            found[parameter["Name"].rsplit("/", 1)[1]] = parameter["Value"]
    return found


@dataclass
class Parameters:
    ssm: Any
    path: str  # "/prefix/web"
    values: dict[str, str]  # variable name to value
    tags: dict[str, str]
    kind: str = "parameters"
    name: str = ""  # the path, for the ledger

    def __post_init__(self) -> None:
        self.name = self.path

    def describe(self) -> dict[str, Any] | None:
        values = parameters_under(self.ssm, self.path)
        if not values:
            return None
        tags = {}
        for key in values:
            listed = self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{self.path}/{key}")
            tags[key] = {t["Key"]: t["Value"] for t in listed.get("TagList", [])}
        return {"values": values, "tags": tags}

    def differences(self, current: dict[str, Any]) -> list[str]:
        have = current["values"]
        found = [f"set {key}" for key in sorted(self.values) if have.get(key) != self.values[key]]
        found += [f"remove {key}" for key in sorted(set(have) - set(self.values))]
        found += [f"tag {key}" for key in sorted(current["tags"]) if not carries(current["tags"][key], self.tags)]
        return found

    def _put(self, key: str, value: str, *, exists: bool) -> None:
        name = f"{self.path}/{key}"
        if exists:
            self.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
            self.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=tag_list(self.tags))
        else:
            self.ssm.put_parameter(Name=name, Value=value, Type="String", Tags=tag_list(self.tags))

    def create(self) -> dict[str, Any]:
        for key, value in self.values.items():
            self._put(key, value, exists=False)
        return {"values": dict(self.values), "tags": {key: dict(self.tags) for key in self.values}}

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        have = current["values"]
        for key, value in self.values.items():
            if have.get(key) != value or not carries(current["tags"].get(key, {}), self.tags):
                self._put(key, value, exists=key in have)
        gone = [f"{self.path}/{key}" for key in set(have) - set(self.values)]
        for start in range(0, len(gone), 10):
            self.ssm.delete_parameters(Names=gone[start : start + 10])
        return {"values": dict(self.values), "tags": {key: dict(self.tags) for key in self.values}}

    def identity(self, current: dict[str, Any]) -> str:
        return f"{self.path} ({len(current['values'])} variables)"

    def is_ours(self, current: dict[str, Any]) -> bool:
        return all(carries(tags, self.tags) for tags in current["tags"].values())

    def delete(self, current: dict[str, Any]) -> None:
        names = [f"{self.path}/{key}" for key in current["values"]]
        for start in range(0, len(names), 10):
            self.ssm.delete_parameters(Names=names[start : start + 10])


def _token(size: int) -> Callable[[], str]:
    return lambda: secrets.token_urlsafe(size)


# What the secret holds, made once: Django's signing key, the metrics scraper's token, and the operator's API
# token (the web hosts make the `operator` user with it; `manage.py loadtest --prefix` reads it). A DRF token key is
# 40 characters.
GENERATED: dict[str, Callable[[], str]] = {"DJANGO_SECRET_KEY": _token(50), "METRICS_TOKEN": _token(32),
                                           "OPERATOR_API_TOKEN": lambda: secrets.token_hex(20)}  # fmt: skip
# The RDS master password (RDS takes printable ASCII but /, @, " and space: URL-safe base64 has none).
DATABASE_PASSWORD = "DATABASE_PASSWORD"  # noqa: S105  # the key it is stored under
database_password = _token(24)


@dataclass
class Secret:
    client: Any  # secretsmanager
    name: str
    generated: dict[str, Callable[[], str]]  # keys made once, when missing
    given: dict[str, str]  # keys the operator gave, kept as given
    tags: dict[str, str]
    dropped: tuple[str, ...] = ()  # keys that must not be there (an earlier run's choice)
    kind: str = "secret"

    def describe(self) -> dict[str, Any] | None:
        try:
            described = self.client.describe_secret(SecretId=self.name)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        if described.get("DeletedDate"):
            return None
        value = self.client.get_secret_value(SecretId=self.name)["SecretString"]
        return {"arn": described["ARN"], "values": json.loads(value),
                "tags": {t["Key"]: t["Value"] for t in described.get("Tags", [])}}  # fmt: skip

    def differences(self, current: dict[str, Any]) -> list[str]:
        have = current["values"]
        found = [f"generate {key}" for key in sorted(self.generated) if key not in have]
        found += [f"set {key}" for key in sorted(self.given) if have.get(key) != self.given[key]]
        found += [f"remove {key}" for key in self.dropped if key in have]
        if not carries(current["tags"], self.tags):
            found.append("tags")
        return found

    def _complete(self, have: dict[str, str]) -> dict[str, str]:
        values = {key: value for key, value in have.items() if key not in self.dropped}
        for key, make in self.generated.items():
            values.setdefault(key, make())
        return {**values, **self.given}

    def create(self) -> dict[str, Any]:
        values = self._complete({})
        answer = self.client.create_secret(Name=self.name, SecretString=json.dumps(values), Tags=tag_list(self.tags),
                                           Description="classifier web hosts: see docs/deploy.md")  # fmt: skip
        return {"arn": answer["ARN"], "values": values, "tags": dict(self.tags)}

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        values = self._complete(current["values"])
        if values != current["values"]:
            self.client.put_secret_value(SecretId=self.name, SecretString=json.dumps(values))
        self.client.tag_resource(SecretId=self.name, Tags=tag_list(self.tags))
        return {**current, "values": values, "tags": {**current["tags"], **self.tags}}

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["arn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        """At once: a recovery window would keep the name taken, and deprovision leaves nothing."""
        self.client.delete_secret(SecretId=self.name, ForceDeleteWithoutRecovery=True)

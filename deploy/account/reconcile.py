"""One driver for every resource kind: describe, compare with the desired state, then create, update or leave it.

A resource kind says how to describe itself, what differs from what it should be, and how to create, update and
delete itself. The driver does the rest the same way for all of them: a dry run describes and reports only, a
real run changes only what differs, and each outcome is recorded so a failure can say what was already made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Resource(Protocol):
    kind: str  # "bucket", "queue", "IAM role", ...
    name: str

    def describe(self) -> Any | None:
        """What exists under this name now, or None."""

    def differences(self, current: Any) -> list[str]:
        """What an update would change, in words; empty when the resource is as it should be."""

    def create(self) -> Any:
        """Make it; returns what `describe` would now return."""

    def update(self, current: Any) -> Any:
        """Bring it to the desired state; returns what `describe` would now return."""

    def identity(self, current: Any) -> str:
        """Its id or ARN, as the hosts' environment or a later resource needs it."""

    def is_ours(self, current: Any) -> bool:
        """Whether it carries this deployment's owner tag (deprovision removes nothing else)."""

    def delete(self, current: Any) -> None: ...


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as the APIs take them: [{"Key": ..., "Value": ...}]."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def carries(tags: dict[str, str], wanted: dict[str, str]) -> bool:
    """Whether a resource's tags include every one of ours: the test for "ours" and for "tags up to date"."""
    return all(tags.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, found, would create, would update, deleted, absent, not ours
    kind: str
    name: str
    identity: str = ""
    detail: str = ""

    def line(self) -> str:
        text = f"{self.action:<13} {self.kind} {self.name}"
        if self.identity and self.identity != self.name:
            text += f" ({self.identity})"
        return text + (f": {self.detail}" if self.detail else "")


CHANGES = ("created", "updated", "deleted", "would create", "would update", "would delete")


@dataclass
class Ledger:
    """What a run did so far, in order."""

    outcomes: list[Outcome] = field(default_factory=list)
    working_on: str = ""  # the resource a failure interrupted, in words

    def add(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    def changed(self) -> bool:
        return any(o.action in CHANGES for o in self.outcomes)

    def done(self) -> list[str]:
        """What this run changed before it stopped, in words."""
        return [f"{o.action} {o.kind} {o.name}" for o in self.outcomes if o.action in ("created", "updated", "deleted")]


def ensure(resource: Resource, ledger: Ledger, *, dry_run: bool) -> str:
    """Bring one resource to its desired state; returns its identity ("" for one a dry run would create)."""
    ledger.working_on = f"{resource.kind} {resource.name}"
    current = resource.describe()
    if current is None:
        if dry_run:
            ledger.add(Outcome("would create", resource.kind, resource.name))
            return ""
        current = resource.create()
        return ledger.add(Outcome("created", resource.kind, resource.name, resource.identity(current))).identity
    differences = resource.differences(current)
    if differences and dry_run:
        ledger.add(Outcome("would update", resource.kind, resource.name, resource.identity(current),
                           "; ".join(differences)))  # fmt: skip
    elif differences:
        current = resource.update(current)
        ledger.add(Outcome("updated", resource.kind, resource.name, resource.identity(current),
                           "; ".join(differences)))  # fmt: skip
    else:
        ledger.add(Outcome("found", resource.kind, resource.name, resource.identity(current)))
    return resource.identity(current)


def remove(resource: Resource, ledger: Ledger, *, dry_run: bool) -> None:
    ledger.working_on = f"{resource.kind} {resource.name}"
    current = resource.describe()
    if current is None:
        ledger.add(Outcome("absent", resource.kind, resource.name))
    elif not resource.is_ours(current):
        ledger.add(Outcome("not ours", resource.kind, resource.name, resource.identity(current), "left alone"))
    elif dry_run:
        ledger.add(Outcome("would delete", resource.kind, resource.name, resource.identity(current)))
    else:
        resource.delete(current)
        ledger.add(Outcome("deleted", resource.kind, resource.name, resource.identity(current)))

"""Every recorded call of each tier judged against the policy its role holds, and each permission of that policy
shown to be needed: taken away alone, some recorded call is then denied.

A permission is one (action, resource) pair of one statement: a statement granting two actions on two resources
holds four, and removing one rewrites the statement into the others, so a grant the run never needed shows up even
where a broader statement hides it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.iam.authorization import Authorization, Principal, World
from tests.iam.evaluator import Request, evaluate
from tests.iam.recording_endpoint import Call


@dataclass(frozen=True)
class Permission:
    sid: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.sid}: {self.action} on {self.resource}"


@dataclass(frozen=True)
class Denial:
    principal: str
    request: Request
    reason: str

    def __str__(self) -> str:
        request = self.request
        return f"{self.principal}: {request.call} needs {request.action} on {request.resource} ({self.reason})"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def permissions(policy: dict[str, Any]) -> list[Permission]:
    """Each (action, resource) pair an Allow statement grants."""
    return [Permission(statement["Sid"], action, resource)
            for statement in _listed(policy["Statement"]) if statement["Effect"] == "Allow"
            for action in _listed(statement["Action"]) for resource in _listed(statement["Resource"])]  # fmt: skip


def without(policy: dict[str, Any], permission: Permission) -> dict[str, Any]:
    """The policy with one (action, resource) pair taken out of its statement, everything else it granted kept."""
    reduced = copy.deepcopy(policy)
    statements = []
    for statement in _listed(reduced["Statement"]):
        if statement.get("Sid") != permission.sid:
            statements.append(statement)
            continue
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        others = [a for a in actions if a != permission.action]
        if others:
            statements.append({**statement, "Action": others})
        kept = [r for r in resources if r != permission.resource]
        if kept:
            statements.append({**statement, "Sid": f"{permission.sid}Rest", "Action": [permission.action],
                               "Resource": kept})  # fmt: skip
    reduced["Statement"] = statements
    return reduced


@dataclass
class Tier:
    name: str  # "web host", "worker"
    policy: dict[str, Any]  # its role's policy, as the account holds it


@dataclass
class Judged:
    """A tier's recorded calls as AWS would authorise them."""

    tier: Tier
    requests: list[tuple[str, Request]]  # (principal in words, request)

    def denials(self, policy: dict[str, Any] | None = None) -> list[Denial]:
        policy = policy if policy is not None else self.tier.policy
        found = []
        for who, request in self.requests:
            decision = evaluate([policy], request)
            if not decision.allowed:
                found.append(Denial(who, request, decision.reason))
        return found

    def unneeded(self) -> list[Permission]:
        """The permissions whose removal alone denies none of the recorded calls."""
        return [p for p in permissions(self.tier.policy) if not self.denials(without(self.tier.policy, p))]


def judge(calls: Iterable[Call], principals: dict[str, Principal], tiers: dict[str, Tier], world: World,
          region: str) -> dict[str, Judged]:  # fmt: skip
    """The calls signed by the tiers' keys (others are the operator's and the harness's own), by tier."""
    judged = {role: Judged(tier, []) for role, tier in tiers.items()}
    seen: set[tuple[str, str, str, str]] = set()  # the same authorisation asked again (each receive, each send)
    for call in calls:
        principal = principals.get(call.key)
        if principal is None:
            continue
        authorization = Authorization(world, region, principal)
        who = f"{principal.role} ({principal.session})"
        for request in authorization.requests(call):
            key = (who, request.action, request.resource, repr(sorted(request.context.items())))
            if key not in seen:
                seen.add(key)
                judged[principal.role].requests.append((who, request))
    return judged

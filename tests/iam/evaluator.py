"""AWS's evaluation of identity-based policies, for the requests one principal of one account makes: an explicit
deny wins, then an allow, else the implicit deny.

Why not a package: moto's enforcement (5.2.x) matches a statement's Resource only for S3 (every other service asks
about "*"), knows one condition operator (StringEquals), passes a condition whose key is absent, turns an unmet
condition of an Allow into an explicit deny, and substitutes no policy variable; principalmapper's simulator is
AGPL and unreleased since 2021. This covers what our policies use and refuses, by raising, what it does not know
(an operator, a set qualifier, an element), so a policy it cannot judge never passes.

Sources: IAM User Guide, "Policy evaluation logic", "IAM JSON policy elements: Condition operators", "IAM policy
elements: Variables and tags".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Context = dict[str, list[str]]  # condition keys (lowercase) to their values; a single-valued key has one


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes: an action on a resource, with the request's condition context."""

    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for an action that supports no resource-level permission
    context: dict[str, list[str]] = field(default_factory=dict, hash=False)
    call: str = ""  # the API call it was made for, in words, for the report

    def key(self, name: str) -> list[str] | None:
        return self.context.get(name.lower())


class Unsupported(ValueError):
    """The policy uses something this evaluator does not implement: it cannot be judged here."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed by <Sid>", "explicitly denied by <Sid>", "no statement allows it"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_ESCAPES = {"*", "?", "$"}  # ${*}, ${?} and ${$} stand for the literal characters


def _variable_value(name: str, request: Request) -> str | None:
    """A policy variable's one value, or None when the request has none (the element then does not match)."""
    if name in _ESCAPES:
        return name
    if "," in name:  # ${key, 'default'}
        name, default = (part.strip() for part in name.split(",", 1))
        values = request.key(name) or [default.strip("'")]
    else:
        values = request.key(name) or []
    return values[0] if len(values) == 1 else None


def _substitute(text: str, request: Request) -> str | None:
    """A policy value with its variables replaced, for a comparison without wildcards."""
    parts: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        value = _variable_value(match.group(1), request)
        if value is None:
            return None
        parts += [text[position : match.start()], value]
        position = match.end()
    return "".join([*parts, text[position:]])


def _pattern(text: str, request: Request) -> re.Pattern[str] | None:
    """A policy value as IAM's wildcards read it (* any run of characters, across colons and slashes; ? one
    character), with its variables replaced by their literal values."""
    parts: list[str] = []
    position = 0

    def literal(chunk: str) -> str:
        return re.escape(chunk).replace(r"\*", ".*").replace(r"\?", ".")

    for match in _VARIABLE.finditer(text):
        value = _variable_value(match.group(1), request)
        if value is None:
            return None
        parts += [literal(text[position : match.start()]), re.escape(value)]
        position = match.end()
    return re.compile("".join([*parts, literal(text[position:])]), re.DOTALL)


def _glob(pattern: str, value: str, request: Request, *, ignore_case: bool = False) -> bool:
    compiled = _pattern(pattern.lower() if ignore_case else pattern, request)
    return compiled is not None and compiled.fullmatch(value.lower() if ignore_case else value) is not None


def _matches_action(statement: dict[str, Any], request: Request) -> bool:
    def listed(element: str) -> bool:
        return any(_glob(p, request.action, request, ignore_case=True) for p in _listed(statement[element]))

    if "Action" in statement:
        return listed("Action")
    if "NotAction" in statement:
        return not listed("NotAction")
    raise Unsupported("a statement with neither Action nor NotAction")


def _resource_matches(patterns: Iterable[str], request: Request) -> bool:
    return any(_glob(pattern, request.resource, request) for pattern in patterns)


def _matches_resource(statement: dict[str, Any], request: Request) -> bool:
    if "Resource" in statement:
        return _resource_matches(_listed(statement["Resource"]), request)
    if "NotResource" in statement:
        return not _resource_matches(_listed(statement["NotResource"]), request)
    raise Unsupported("a statement with neither Resource nor NotResource (an identity policy needs one)")


# --- conditions ------------------------------------------------------------------------------------------------
def _string_equals(policy: str, value: str) -> bool:
    return policy == value


def _string_like(policy: str, value: str) -> bool:
    return re.fullmatch(re.escape(policy).replace(r"\*", ".*").replace(r"\?", "."), value, re.DOTALL) is not None


def _arn_like(policy: str, value: str) -> bool:
    """ARNs compare segment by segment (partition, service, region, account, resource), each with wildcards."""
    have, want = value.split(":", 5), policy.split(":", 5)
    if len(have) != 6 or len(want) != 6:
        return False
    return all(_string_like(w, h) for w, h in zip(want, have, strict=True))


def _numeric(compare: Any) -> Any:
    def test(policy: str, value: str) -> bool:
        try:
            return bool(compare(float(value), float(policy)))
        except ValueError:
            return False

    return test


_OPERATORS: dict[str, tuple[Any, bool, bool]] = {
    # name: (test of one policy value against one request value, negated, the policy value takes variables/globs)
    "StringEquals": (_string_equals, False, True),
    "StringNotEquals": (_string_equals, True, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False, True),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True, True),
    "StringLike": (_string_like, False, True),
    "StringNotLike": (_string_like, True, True),
    "ArnEquals": (_arn_like, False, True),
    "ArnLike": (_arn_like, False, True),
    "ArnNotEquals": (_arn_like, True, True),
    "ArnNotLike": (_arn_like, True, True),
    "Bool": (lambda p, v: p.lower() == v.lower(), False, False),
    "NumericEquals": (_numeric(lambda v, p: v == p), False, False),
    "NumericNotEquals": (_numeric(lambda v, p: v == p), True, False),
    "NumericLessThan": (_numeric(lambda v, p: v < p), False, False),
    "NumericLessThanEquals": (_numeric(lambda v, p: v <= p), False, False),
    "NumericGreaterThan": (_numeric(lambda v, p: v > p), False, False),
    "NumericGreaterThanEquals": (_numeric(lambda v, p: v >= p), False, False),
}


def _condition_key_holds(operator: str, key: str, policy_values: list[Any], request: Request) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        absent = request.key(key) is None
        return any(str(v).lower() == ("true" if absent else "false") for v in policy_values)
    if base not in _OPERATORS:
        raise Unsupported(f"condition operator {operator}")
    test, negated, expands = _OPERATORS[base]
    values = request.key(key)
    if values is None:
        # An absent key: a negated operator holds (nothing equals it), others fail; ...IfExists holds either way.
        return if_exists or negated or qualifier == "ForAllValues"
    wanted: list[str] = []
    for value in policy_values:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        substituted = _substitute(text, request) if expands else text
        if substituted is not None:  # a variable the request lacks matches nothing
            wanted.append(substituted)

    def matches(value: str) -> bool:
        return any(test(policy, value) for policy in wanted)

    if qualifier == "":
        if len(values) != 1:
            raise Unsupported(f"{operator} on the multivalued key {key} needs ForAnyValue or ForAllValues")
        return matches(values[0]) != negated
    if qualifier == "ForAnyValue":
        return any(matches(value) for value in values) != negated
    if qualifier == "ForAllValues":
        return all(matches(value) != negated for value in values)
    raise Unsupported(f"set qualifier {qualifier}")


def _conditions_hold(statement: dict[str, Any], request: Request) -> bool:
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            if not _condition_key_holds(operator, key, _listed(values), request):
                return False
    return True


_KNOWN = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def _applies(statement: dict[str, Any], request: Request) -> bool:
    unknown = set(statement) - _KNOWN
    if unknown:
        raise Unsupported(f"statement elements {sorted(unknown)} (an identity policy has no Principal)")
    return (
        _matches_action(statement, request)
        and _matches_resource(statement, request)
        and (_conditions_hold(statement, request))
    )


def evaluate(policies: Iterable[dict[str, Any]], request: Request) -> Decision:
    """The decision for one request under a principal's identity policies (one account, no boundary, no SCP)."""
    allowed_by = ""
    for policy in policies:
        for index, statement in enumerate(_listed(policy["Statement"])):
            if not _applies(statement, request):
                continue
            name = statement.get("Sid", f"statement {index}")
            if statement["Effect"] == "Deny":
                return Decision(False, f"explicitly denied by {name}")
            if statement["Effect"] != "Allow":
                raise Unsupported(f"Effect {statement['Effect']!r}")
            allowed_by = allowed_by or name
    if allowed_by:
        return Decision(True, f"allowed by {allowed_by}")
    return Decision(False, "no statement allows it")

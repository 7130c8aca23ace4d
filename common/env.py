"""Typed readers for environment variables.

Settings read the environment only through these helpers, so a malformed value fails at start-up with a message
that names the variable instead of surfacing later as an odd behaviour.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

N = TypeVar("N", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no), got {value!r}")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    return _number(name, default, environ, int, "an integer", minimum, maximum)


def env_float(
    name: str,
    default: float,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    return _number(name, default, environ, float, "a number", minimum, maximum)


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str, environ: Mapping[str, str] | None = None) -> str:
    value = env_str(name, default, environ).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _number(
    name: str,
    default: N,
    environ: Mapping[str, str] | None,
    parse: Callable[[str], N],
    what: str,
    minimum: float | None,
    maximum: float | None,
) -> N:
    value = _raw(name, environ)
    if value is None or value == "":
        result = default
    else:
        try:
            result = parse(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be {what}, got {value!r}") from None
    _check_range(name, result, minimum, maximum)
    return result


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")


def env_subset(
    name: str, choices: tuple[str, ...], default: str = "on", environ: Mapping[str, str] | None = None
) -> frozenset[str]:
    """Which of `choices` are switched on: `on` (all), `off` (none), or a comma-separated list of them."""
    value = env_str(name, default, environ).strip().lower()
    if value in {"on", "off"}:
        return frozenset(choices) if value == "on" else frozenset()
    picked = {item.strip() for item in value.split(",") if item.strip()}
    unknown = sorted(picked - set(choices))
    if unknown or not picked:
        raise ImproperlyConfigured(f"{name} must be on, off, or a comma-separated list of {', '.join(choices)}; "
                                   f"got {value!r}")  # fmt: skip
    return frozenset(picked)

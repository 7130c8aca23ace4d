import pytest
from django.core.exceptions import ImproperlyConfigured

from common.env import env_bool, env_choice, env_float, env_int, env_list, env_str


def test_defaults_apply_when_unset_or_empty() -> None:
    assert env_str("X", "d", {}) == "d"
    assert env_str("X", "d", {"X": "  "}) == "d"
    assert env_int("X", 3, {"X": ""}) == 3
    assert env_float("X", 0.5, {}) == 0.5
    assert env_bool("X", True, {}) is True
    assert env_list("X", ["a"], {}) == ["a"]


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("off", False), ("0", False)]
)
def test_booleans(raw: str, expected: bool) -> None:
    assert env_bool("FLAG", not expected, {"FLAG": raw}) is expected


def test_values_are_parsed() -> None:
    assert env_int("N", 0, {"N": " 42 "}) == 42
    assert env_float("F", 0.0, {"F": "0.25"}) == 0.25
    assert env_list("L", [], {"L": "a, b,,c "}) == ["a", "b", "c"]
    assert env_choice("C", ("local", "production"), "local", {"C": "Production"}) == "production"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: env_bool("FLAG", False, {"FLAG": "maybe"}), "FLAG must be a boolean"),
        (lambda: env_int("N", 0, {"N": "ten"}), "N must be an integer"),
        (lambda: env_float("F", 0.0, {"F": "fast"}), "F must be a number"),
        (lambda: env_int("N", 0, {"N": "-1"}, minimum=0), "N must be at least 0"),
        (lambda: env_int("N", 0, {"N": "30"}, maximum=20), "N must be at most 20"),
        (lambda: env_choice("C", ("a", "b"), "a", {"C": "c"}), "C must be one of a, b"),
    ],
)
def test_bad_values_name_the_variable(call, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        call()


def test_a_subset_is_on_off_or_a_list_of_the_choices() -> None:
    from common.env import env_subset

    choices = ("a", "b", "c")
    assert env_subset("X", choices, environ={}) == {"a", "b", "c"}  # on by default
    assert env_subset("X", choices, environ={"X": "OFF"}) == frozenset()
    assert env_subset("X", choices, environ={"X": " a, c "}) == {"a", "c"}
    for bad in ("a,z", ",", "maybe"):
        with pytest.raises(ImproperlyConfigured, match="X must be on, off, or a comma-separated list of a, b, c"):
            env_subset("X", choices, environ={"X": bad})

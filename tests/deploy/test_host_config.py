"""A web host's configuration at boot (deploy/host_config.py): what it composes from the parameters and the secret,
and how it writes them down."""

from __future__ import annotations

import stat

import pytest

from deploy.host_config import ConfigurationError, compose, render, write

PARAMETERS = {"SERVICE_MODE": "production", "DJANGO_ALLOWED_HOSTS": "box-web-1.elb.amazonaws.com",
              "DATABASE_HOST": "box-db.rds.amazonaws.com", "DATABASE_PORT": "5432", "DATABASE_NAME": "classifier",
              "DATABASE_USER": "classifier"}  # fmt: skip
SECRET = {"DJANGO_SECRET_KEY": "k", "METRICS_TOKEN": "t", "DATABASE_PASSWORD": "p@ss/w:rd"}


def test_the_database_url_is_built_from_its_parts_and_the_password_quoted() -> None:
    environment = compose(PARAMETERS, SECRET, "10.0.1.7")
    assert environment["DATABASE_URL"] == (
        "postgres://classifier:p%40ss%2Fw%3Ard@box-db.rds.amazonaws.com:5432/classifier?sslmode=require"
    )
    assert not {"DATABASE_HOST", "DATABASE_PASSWORD"} & set(environment)
    assert (environment["DJANGO_SECRET_KEY"], environment["METRICS_TOKEN"]) == ("k", "t")


def test_the_host_s_own_address_is_allowed_for_the_balancer_s_health_check() -> None:
    environment = compose(PARAMETERS, SECRET, "10.0.1.7")
    assert environment["DJANGO_ALLOWED_HOSTS"] == "box-web-1.elb.amazonaws.com,10.0.1.7"


def test_an_operator_given_url_is_taken_whole_and_nothing_else_is_needed() -> None:
    given = {"DJANGO_SECRET_KEY": "k", "METRICS_TOKEN": "t", "DATABASE_URL": "postgres://u:p@db:5432/x"}
    environment = compose({"SERVICE_MODE": "production"}, given, "10.0.1.7")
    assert environment["DATABASE_URL"] == "postgres://u:p@db:5432/x"


def test_without_a_database_it_says_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_HOST"):
        compose({"SERVICE_MODE": "production"}, {"DJANGO_SECRET_KEY": "k"}, "10.0.1.7")


def test_values_are_written_as_systemd_reads_them_root_s_alone(tmp_path) -> None:
    text = render({"PLAIN": "a-b_c/d:1", "QUOTED": 'has space "and" \\ back', "EMPTY": ""})
    assert text.splitlines() == ["EMPTY=", "PLAIN=a-b_c/d:1", 'QUOTED="has space \\"and\\" \\\\ back"']
    with pytest.raises(ConfigurationError):
        render({"BAD": "two\nlines"})
    path = tmp_path / "run" / "classifier" / "web.env"
    write(path, text)
    assert path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == 0o600

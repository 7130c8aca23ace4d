"""The deployment's secret as provision keeps it: generated once, the operator's values as given, an earlier
choice's values gone, and differences told by key name only."""

from __future__ import annotations

from deploy.account.configuration import Secret


def secret(given: dict[str, str], dropped: tuple[str, ...] = ()) -> Secret:
    return Secret(None, "box/web", {"DJANGO_SECRET_KEY": lambda: "new"}, given, {"owner": "box"}, dropped)


def test_a_generated_value_is_kept_and_only_a_missing_one_made() -> None:
    kept = {"values": {"DJANGO_SECRET_KEY": "old"}, "tags": {"owner": "box"}}
    assert secret({}).differences(kept) == []
    assert secret({})._complete({}) == {"DJANGO_SECRET_KEY": "new"}
    assert secret({})._complete(kept["values"]) == {"DJANGO_SECRET_KEY": "old"}


def test_switching_to_rds_drops_the_earlier_url_and_says_so_by_name() -> None:
    earlier = {"values": {"DJANGO_SECRET_KEY": "old", "DATABASE_URL": "postgres://u:hunter2@db/x"},
               "tags": {"owner": "box"}}  # fmt: skip
    differences = secret({}, ("DATABASE_URL",)).differences(earlier)
    assert differences == ["remove DATABASE_URL"] and "hunter2" not in str(differences)
    assert secret({}, ("DATABASE_URL",))._complete(earlier["values"]) == {"DJANGO_SECRET_KEY": "old"}
    changed = secret({"DATABASE_URL": "postgres://u:other@db/y"}).differences(earlier)
    assert changed == ["set DATABASE_URL"]

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bake_in_background import BackgroundBake

ROOT = Path(__file__).resolve().parent.parent
# shared/ lies beside the checkout (in CI too); TEST_DATA_DIR points elsewhere if needed.
DATA_DIR = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data"))
IMAGES_DIR = DATA_DIR / "imagenet-100"


@dataclass(frozen=True)
class SanityImage:
    path: Path
    acceptable: frozenset[int]
    description: str


def sanity_images() -> list[SanityImage]:
    with (DATA_DIR / "sanity_labels.csv").open(newline="") as handle:
        return [
            SanityImage(
                IMAGES_DIR / row["file"],
                frozenset(int(value) for value in row["acceptable_class_ids"].split()),
                row["what_the_picture_shows"],
            )
            for row in csv.DictReader(handle)
        ]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory) -> None:
    """SQLite tests use a file, not memory, so that the processes of the integration suite share it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server of the module's own on a free 127.0.0.1 port (SQS, S3, EC2, IAM, Auto Scaling), stopped after."""
    from stack.embedded import start_endpoint

    process, url = start_endpoint()
    try:
        yield url
    finally:
        process.stop()


_background_bake: list[BackgroundBake] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts the worker-image bake early when the bake test is going to run (tests/bake_in_background.py)."""
    if any("baked" in getattr(item, "fixturenames", ()) for item in session.items):
        _background_bake.append(BackgroundBake.start())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _background_bake:
        _background_bake.pop().stop()


@pytest.fixture(scope="session")
def baked() -> Path:
    """A root directory deploy/worker/bake.sh installed into."""
    assert _background_bake, "the bake starts at collection when a test asks for it"
    return _background_bake[0].wait(timeout=900)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on this machine's server (skipped without one), dropped after."""
    psycopg = pytest.importorskip("psycopg")
    name = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

"""Uploads are stored on a fixed pool of intake threads, each keeping its SQLite connection between uploads (a pooled
PostgreSQL connection goes back to the pool after each one)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from classifier.intake import threads
from classifier.intake.http import release_connection
from classifier.models import Classification


@pytest.fixture
def one_intake_thread(monkeypatch, settings) -> Iterator[None]:
    settings.INTAKE_CONCURRENCY = 1
    monkeypatch.setattr(threads, "_pool", None)
    yield
    if threads._pool is not None:
        threads._pool.shutdown(wait=True)


def _an_upload_s_work() -> tuple[str, object]:
    """What an upload does with the database, then gives its connection back as the upload path does."""
    Classification.objects.count()
    used = connection.connection  # the object, not its id: a new connection may take a freed one's address
    release_connection()
    return threading.current_thread().name, used


def _held() -> object:
    return connection.connection


@pytest.mark.django_db(transaction=True)
def test_an_intake_thread_keeps_its_sqlite_connection_and_gives_a_pooled_one_back(one_intake_thread) -> None:
    first = asyncio.run(threads.run_on_intake_thread(_an_upload_s_work))
    held = asyncio.run(threads.run_on_intake_thread(_held))
    second = asyncio.run(threads.run_on_intake_thread(_an_upload_s_work))
    assert first[0].startswith("intake") and second[0] == first[0]
    if connection.vendor == "sqlite":
        # Opening a SQLite connection costs more than an upload's insert: not closed after the first, not reopened.
        assert held is first[1] and second[1] is first[1]
    else:
        # A pooled connection goes back to the pool between uploads (the pool may hand out another one next).
        assert held is None and second[1] is not None


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_replaced_before_the_next_upload(one_intake_thread) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("only a SQLite connection is kept between uploads; a pooled one goes back after each")
    first = asyncio.run(threads.run_on_intake_thread(_an_upload_s_work))

    def break_it() -> None:
        # A query failed and the connection no longer answers (a PostgreSQL restart; Django's own check finds
        # that out with a round trip, which a SQLite file never needs).
        connection.errors_occurred = True
        connection.is_usable = lambda: False

    asyncio.run(threads.run_on_intake_thread(break_it))
    second = asyncio.run(threads.run_on_intake_thread(_an_upload_s_work))
    assert second[0] == first[0] and second[1] is not first[1]


@pytest.mark.django_db(transaction=True)
def test_a_request_thread_gives_its_connection_back() -> None:
    Classification.objects.count()
    release_connection()
    assert connection.connection is None


def test_under_a_synchronous_caller_the_work_runs_on_the_caller_s_thread() -> None:
    """Django's test clients wait on a request from their own thread, which holds the test's transaction."""
    ran_on = async_to_sync(threads.run_on_intake_thread)(threading.current_thread)
    assert ran_on is threading.main_thread()

"""The database connection of a thread that outlives requests (the result poller, the intake threads)."""

from __future__ import annotations

from django.db import connection


def keep_unless_broken() -> None:
    """Before such a thread's next query: keep its connection, unless an error left it unusable.

    CONN_MAX_AGE is 0 (a request thread's connection dies with the request), so close_old_connections() would close
    and reopen it for every query; on SQLite the reopening (Django registers its SQL functions on each connection)
    cost more than the query. An unusable connection, or one left outside autocommit, is still closed.
    """
    connection.close_at = None  # no age limit for this one
    connection.close_if_unusable_or_obsolete()

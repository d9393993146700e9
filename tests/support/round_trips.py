"""Counting PostgreSQL round trips: libpq's own protocol trace on every connection the app checks
out, and one ``ReadyForQuery`` from the server per round trip (a simple query, or the extended
protocol's Parse/Bind/Execute up to its Sync). The pool's liveness ping after idle time runs before
the trace starts, so the count is what the request itself costs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import event


class RoundTrips:
    def __init__(self, path: str) -> None:
        self.path = path

    def lines(self) -> list[str]:
        with open(self.path, encoding="utf-8", errors="replace") as trace:
            return trace.read().splitlines()

    def count(self) -> int:
        return sum(1 for line in self.lines() if line.startswith("B\t") and "\tReadyForQuery" in line)

    def queries(self) -> list[str]:
        """What the client sent, for a failure message (simple queries and parsed statements)."""
        return [line.split("\t", 3)[-1][:120] for line in self.lines() if "\tQuery\t" in line or "\tParse\t" in line]


@contextmanager
def counting(engine) -> Iterator[Callable[[], RoundTrips]]:
    """Trace the engine's connections while the block runs; yields a function that starts a new count."""
    trace = tempfile.NamedTemporaryFile(prefix="libpq-trace-", suffix=".txt", delete=False)  # noqa: SIM115

    def checkout(dbapi_connection, _record, _proxy):
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

    def checkin(dbapi_connection, _record):
        if dbapi_connection is not None:
            dbapi_connection.pgconn.untrace()

    def fresh() -> RoundTrips:
        trace.truncate(0)
        trace.seek(0)
        return RoundTrips(trace.name)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield fresh
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
        trace.close()

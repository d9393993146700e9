"""The worker's run queue as WSGI middleware: at most IDP_THREADS requests of a worker run at once, and a
password sign-in is told to come back (503, ``Retry-After``) when the worker is out of threads
(``idp.core.admission.RunQueue`` says when).

A refused sign-in still goes through the app, without a slot: its view renders the form again with the
come-back message (the sign-in gate raises ``Busy`` at once, ``usecases.signin``), which costs a
fraction of what the verification and the rest of the sign-in would. Discovery and JWKS are answered
in front of this (``idp.http.documents``), and health, readiness and metrics past it: they never wait."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from idp.core.admission import RunQueue
from idp.http.ops.process import server_threads

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The environ key that marks a sign-in refused by the run queue (read by ``usecases.signin``).
AT_CAPACITY = "idp.at_capacity"
#: The views that verify a password: a sign-in, a password change.
SHEDDABLE_ENDPOINTS = ("web.login_post", "account.change_password")
#: Never queued: a liveness probe stuck behind a surge would have the orchestrator restart a busy worker,
#: and a scrape would lose the very minutes it is for. Each is a few milliseconds at most.
UNQUEUED_ENDPOINTS = ("ops.healthz", "ops.readyz", "ops.metrics")


class RunSlots:
    def __init__(
        self, app: WSGIApp, queue: RunQueue, sheddable_paths: frozenset[str], unqueued_paths: frozenset[str]
    ) -> None:
        self.app, self.queue = app, queue
        self.sheddable_paths, self.unqueued_paths = sheddable_paths, unqueued_paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path in self.unqueued_paths:
            return self.app(environ, start_response)
        sheddable = environ.get("REQUEST_METHOD") == "POST" and path in self.sheddable_paths
        if not self.queue.enter(sheddable):
            environ[AT_CAPACITY] = True
            return self.app(environ, start_response)
        try:
            # The slot is given back when the app returns: Flask has run the view and built the body by
            # then. A streamed body (the audit export) is sent after, outside the slot; and a server that
            # never calls the iterable's ``close`` cannot leak slots.
            return self.app(environ, start_response)
        finally:
            self.queue.leave()


def install(app: Flask, slots: int, max_wait: float) -> None:
    """Put the run queue in front of ``app``'s views (behind the precomputed documents). Its threads are
    those ``idp serve`` gives the server; under another server (the tests', ``make demo``'s) the same
    number counts as the worker's threads."""

    def paths(endpoints: tuple[str, ...]) -> frozenset[str]:
        return frozenset(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint in endpoints)

    queue = RunQueue(slots, server_threads(slots), max_wait)
    app.wsgi_app = RunSlots(  # type: ignore[method-assign]
        app.wsgi_app, queue, paths(SHEDDABLE_ENDPOINTS), paths(UNQUEUED_ENDPOINTS)
    )
    app.extensions["idp.run_queue"] = queue  # for the tests, which watch its waiters

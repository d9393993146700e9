"""The composition root: ``create_app`` picks the backends, wires them and builds the WSGI app.

This is the only module that chooses implementations (in-process or Redis store and throttle, SMTP
or outbox mail, …) and the only one that puts them on the app; tests pass their own (a
``FixedClock``, a ``MemoryStore``, a counting hasher) as keyword arguments.
"""

from __future__ import annotations

import logging
from typing import TypedDict, Unpack

from flask import Flask

from idp.core.admission import AdmissionGate
from idp.core.clock import SystemClock
from idp.core.deps import Deps
from idp.core.mail import Postman, mailer_from_settings
from idp.core.outbound import OutboundClient
from idp.core.passwords import PasswordHasher
from idp.core.ports import Clock, Database, Hasher, KeyStore, Mailer, Store, Throttle
from idp.core.settings import Settings
from idp.domain.keys.keystore import DatabaseKeyStore
from idp.http.mail import TemplateNotifier
from idp.storage.sql.database import Database as SQLDatabase
from idp.storage.store import build_store
from idp.storage.throttle import build_throttle

log = logging.getLogger(__name__)


class Backends(TypedDict, total=False):
    """The keyword arguments of ``create_app``: any backend ``build_deps`` would otherwise build."""

    clock: Clock | None
    database: Database | None
    store: Store | None
    keystore: KeyStore | None
    hasher: Hasher | None
    throttle: Throttle | None
    mailer: Mailer | None
    outbound: OutboundClient | None


def build_deps(
    settings: Settings,
    app: Flask,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    store: Store | None = None,
    keystore: KeyStore | None = None,
    hasher: Hasher | None = None,
    throttle: Throttle | None = None,
    mailer: Mailer | None = None,
    outbound: OutboundClient | None = None,
) -> Deps:
    """Every backend the provider runs on, from ``settings`` unless given (``app`` renders the mail)."""
    clock = clock or SystemClock()
    database = database or SQLDatabase(settings.storage.database_url, settings.storage.database_connect_timeout)
    mailer = mailer or mailer_from_settings(settings)
    postman = Postman(
        mailer,
        settings.mail.outbox_path / "failed",
        sender=settings.mail.from_address,
        attempts=settings.mail.attempts,
        retry_seconds=settings.mail.retry_seconds,
    )
    return Deps(
        settings=settings,
        clock=clock,
        database=database,
        store=store or build_store(settings, database, clock),
        keystore=keystore or DatabaseKeyStore(database, settings, clock),
        hasher=hasher
        or PasswordHasher(
            settings.accounts.argon2_memory_kib,
            settings.accounts.argon2_time_cost,
            settings.accounts.argon2_parallelism,
        ),
        signin_gate=AdmissionGate(argon2_concurrency(settings), settings.accounts.signin_max_wait_seconds),
        throttle=throttle or build_throttle(settings, clock),
        mailer=mailer,
        postman=postman,
        outbound=outbound or OutboundClient.from_settings(settings.outbound),
        notifier=TemplateNotifier(app, postman),  # mail is composed from the app's templates
    )


def argon2_concurrency(settings: Settings) -> int:
    """IDP_ARGON2_CONCURRENCY, or (0 = auto) this worker's share of the usable cores, at least one."""
    if settings.accounts.argon2_concurrency:
        return settings.accounts.argon2_concurrency
    from idp.http.ops.process import usable_cores, worker_count

    try:
        workers = worker_count(settings, None)
    except ValueError:  # an impossible worker count is refused by ``idp serve``, not here
        workers = 1
    return max(1, usable_cores() // workers)


def create_app(settings: Settings | None = None, **backends: Unpack[Backends]) -> Flask:
    """Build the provider. Every backend can be swapped (``build_deps`` names them)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder="http/web/templates", static_folder="http/web/static")
    deps = build_deps(settings, app, **backends)
    app.config.update(
        SECRET_KEY=settings.server.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_SECURE=settings.server.secure_cookies,
    )
    app.extensions["idp"] = deps
    for warning in settings.warnings():
        log.warning("configuration: %s", warning)
    from idp import http

    http.init_app(app, deps)
    return app


def deps_of(app: Flask) -> Deps:
    """What ``create_app`` wired into ``app`` (the CLI's and the tests' way in)."""
    return app.extensions["idp"]

"""Fixtures: a fresh database per run (SQLite always, PostgreSQL when IDP_TEST_DATABASE_URL is set),
signing keys made once per run (by the first provider), and a live provider on a loopback port with
an injected clock."""

from __future__ import annotations

import os
import secrets
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp.app import create_app
from idp.core.clock import FixedClock
from idp.core.settings import Settings
from idp.storage.sql.database import Database
from idp.storage.sql.migrate import upgrade
from idp.storage.sql.models import Base
from idp.storage.store.memory import MemoryStore
from tests.support import outbound_guard
from tests.support.constants import BACKENDS, CHROMIUM, CHROMIUM_ARGS, FAST_HASHER, REDIS_URL, TEST_KEYS_PASSPHRASE
from tests.support.helpers import Provider
from tests.support.live import LiveServer, free_port

outbound_guard.install()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``one_backend`` run on SQLite only: what they check (the pages' markup and layout in the
    browser) is the same on every backend, and each PostgreSQL copy cost seconds of the suite's wall time.
    Tests marked ``postgresql_only`` measure what only a database server has (round trips), so they run on
    PostgreSQL only (always configured by ``make test``)."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("database_url") if params else None
        if (item.get_closest_marker("one_backend") and backend not in (None, "sqlite")) or (
            item.get_closest_marker("postgresql_only") and backend != "postgresql"
        ):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def no_http_around_the_outbound_client():
    """Fails a test in which provider code opened an HTTP connection outside ``idp.core.outbound``."""
    outbound_guard.violations.clear()
    yield
    assert not outbound_guard.violations, outbound_guard.violations


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'idp.sqlite3'}"
        upgrade(url)
        yield url
        return
    admin_url = make_url(os.environ["IDP_TEST_DATABASE_URL"])
    name = f"idp_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture(autouse=False)
def clean_database(database):
    yield database
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            # Signing keys last the whole run (RSA generation is slow); tests that change keys
            # use ``fresh_keys``, which empties the table before and after them.
            if table.name != "signing_keys":
                conn.execute(table.delete())


@pytest.fixture
def fresh_keys(database):
    """An empty signing-key table for tests that rotate or revoke keys; emptied again afterwards."""
    from idp.storage.sql.models import StoredKey

    def empty():
        with database.engine.begin() as conn:
            conn.execute(StoredKey.__table__.delete())

    empty()
    yield database
    empty()


@pytest.fixture
def clock():
    return FixedClock(float(int(time.time())))


@pytest.fixture
def settings_factory(tmp_path, database_url):
    def make(port: int, **overrides) -> Settings:
        values = dict(
            issuer=f"http://127.0.0.1:{port}",
            instance_dir=str(tmp_path / "instance"),
            database_url=database_url,
            secret_key="t" * 40,
            keys_passphrase=TEST_KEYS_PASSPHRASE,
            # Tests register many clients from 127.0.0.1; the limit itself has its own test.
            rate_register_ip_limit=10_000,
        )
        values.update(overrides)
        return Settings.from_env({}, **values)

    return make


def provider_factory(settings_factory, database, clock, *, serve: bool):
    """``start(**overrides) -> Provider`` sharing the test's database, clock and store, and a ``stop()``.
    With ``serve`` each app listens on a loopback port of its own; without, the app is only driven
    in process (``provider.app.test_client()``) and its issuer's port is never opened."""
    started = []
    store = MemoryStore(now=clock.now)

    def start(**overrides) -> Provider:
        port = free_port() if serve else 8999
        app_store = overrides.pop("store", store)
        services = {name: overrides.pop(name) for name in ("throttle", "mailer", "outbound") if name in overrides}
        hasher = overrides.pop("hasher", FAST_HASHER)
        settings = settings_factory(port, **overrides)
        app = create_app(settings, clock=clock, database=database, store=app_store, hasher=hasher, **services)
        if serve:
            started.append(LiveServer(app, port).__enter__())
        return Provider(app=app, url=settings.server.issuer, clock=clock)

    def stop() -> None:
        for server in started:
            server.__exit__()

    return start, stop


@pytest.fixture
def make_provider(settings_factory, clean_database, clock):
    """Start providers on loopback; each shares the test's database, clock and store."""
    start, stop = provider_factory(settings_factory, clean_database, clock, serve=True)
    yield start
    stop()


@pytest.fixture
def provider(make_provider):
    return make_provider()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    from tests.support.mailserver import MailServer

    with MailServer(free_port()) as server:
        yield server


@pytest.fixture
def mail_provider(make_provider, smtp_server):
    """A provider that sends its mail to ``smtp_server`` over SMTP."""
    started = []

    def start(**overrides):
        overrides = dict(
            smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_security="none", mail_retry_seconds=0, **overrides
        )
        started.append(make_provider(**overrides))
        return started[-1]

    yield start
    for provider in started:  # let queued mail reach the server before it stops
        provider.app.extensions["idp"].postman.wait_idle()


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards."""
    import redis

    prefix = f"idptest:{os.getpid()}:{secrets.token_hex(4)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# -- the real browser (tests/e2e/test_browser.py, tests/e2e/test_accessibility.py) --------------


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()

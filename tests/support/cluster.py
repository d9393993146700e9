"""Several real provider processes (``idp serve``: granian unless a test sets IDP_SERVER) sharing one PostgreSQL and one Redis,
and a loopback TCP proxy in front of each dependency so a test can cut it and restore it.

Nothing here stops the shared PostgreSQL or Redis servers (other test runs use them): an outage
is the proxy refusing connections and dropping the open ones, which is what a client sees when
the server restarts. Each cluster has its own database and its own Redis key prefix, removed at
the end. New scenarios (throttling, key rotation across instances) add methods or tests that use
``Cluster``; nothing here is specific to one scenario.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp.app import create_app
from idp.core.settings import Settings
from idp.domain.keys.lifecycle import Policy
from idp.domain.keys.lifecycle import ensure as ensure_keys
from idp.domain.keys.material import DEFAULT_FAMILIES
from idp.storage.sql.migrate import upgrade
from tests.support.helpers import Provider, RelyingParty

PG_ADMIN_URL = os.environ.get("IDP_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEYS_PASSPHRASE = "cluster test keys passphrase"
#: The issuer every instance shares: they are one provider behind one (imagined) load balancer.
ISSUER = "http://localhost"
SECRET = "c" * 40
IDP_COMMAND = str(Path(sys.executable).with_name("idp"))
ARGON2 = {"IDP_ARGON2_MEMORY_KIB": "1024", "IDP_ARGON2_TIME_COST": "1", "IDP_ARGON2_PARALLELISM": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpProxy:
    """Forwards a loopback port to ``target``. ``cut()`` drops every open connection and refuses
    new ones (a server restart, as its clients see it); ``restore()`` accepts again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopping = False
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
        if listener is not None:
            listener.close()
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stopping = True
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                if self._listener is not listener:  # cut while this connection was being set up
                    client.close()
                    upstream.close()
                    return
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair) -> None:
        client, upstream = pair
        peers = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()


@dataclass
class Instance:
    """One provider process (the server's master + workers) on its own port."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the master and its workers die without a goodbye."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (the graceful shutdown) and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


class Cluster:
    """A per-test database, a Redis key prefix, shared keys, proxies, and provider instances."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis_prefix = f"idp-test-{os.getpid()}-{secrets.token_hex(4)}:"
        self.db_name = f"idp_multi_{os.getpid()}_{secrets.token_hex(4)}"
        admin_url = make_url(PG_ADMIN_URL)
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        self.pg = admin_url.set(database=self.db_name)
        self.database_url = self.pg.render_as_string(hide_password=False)
        upgrade(self.database_url)
        redis_url = urlsplit(REDIS_URL)
        self.pg_proxy = TcpProxy(self.pg.host or "127.0.0.1", self.pg.port or 5432)
        self.redis_proxy = TcpProxy(redis_url.hostname or "127.0.0.1", redis_url.port or 6379)
        self.instances: list[Instance] = []
        # The test's own view of the shared state (users, clients, audit): direct, not proxied.
        settings = Settings.from_env(
            {},
            issuer=ISSUER,
            instance_dir=str(workdir / "admin"),
            database_url=self.database_url,
            redis_url=REDIS_URL,
            redis_prefix=self.redis_prefix,
            keys_passphrase=KEYS_PASSPHRASE,
            secret_key=SECRET,
        )
        self.admin = create_app(settings)
        # Signing keys live in the shared database: made once here, as `idp init` would.
        with self.admin.extensions["idp"].database.session() as db:
            ensure_keys(db, DEFAULT_FAMILIES, time.time(), Policy.from_settings(settings))
            db.commit()

    def env(self, **overrides) -> dict[str, str]:
        via_proxy = self.pg.set(host="127.0.0.1", port=self.pg_proxy.port).render_as_string(hide_password=False)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "IDP_ISSUER": ISSUER,
            "IDP_SECRET_KEY": SECRET,
            "IDP_DATABASE_URL": via_proxy,
            "IDP_REDIS_URL": f"redis://127.0.0.1:{self.redis_proxy.port}/0",
            "IDP_REDIS_PREFIX": self.redis_prefix,
            "IDP_KEYS_PASSPHRASE": KEYS_PASSPHRASE,
            "IDP_INSTANCE_DIR": str(self.workdir / "instance"),
            "IDP_WORKERS": "2",
            "IDP_DATABASE_CONNECT_TIMEOUT": "2",
            "IDP_METRICS_NETWORKS": "127.0.0.1/32",
            # Every simulated user signs in from 127.0.0.1: the per-IP limit would meter the test's own
            # load (a slot taken just before a Redis cut is never handed back); the per-account
            # limit stays at its default and is what the throttle tests exercise.
            "IDP_RATE_LOGIN_IP_LIMIT": "100000",
            "IDP_LOG_LEVEL": "DEBUG",
            **ARGON2,
        }
        env.update(overrides)
        return env

    def start(self, name: str, **env_overrides) -> Instance:
        port = free_port()
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [IDP_COMMAND, "serve", "--port", str(port)],
                env=self.env(**env_overrides),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.workdir,
            )
        instance = Instance(name, port, process, log_path)
        self.instances.append(instance)
        wait_until_ready(instance)
        return instance

    def provider(self, instance: Instance) -> Provider:
        """A ``Provider`` helper whose HTTP side is this instance and whose admin side is the test's app."""
        return Provider(app=self.admin, url=instance.url, clock=None)  # type: ignore[arg-type]

    def relying_party(self, instance: Instance, **spec) -> RelyingParty:
        return self.provider(instance).create_client(**spec)

    def close(self) -> None:
        for instance in self.instances:
            instance.stop(timeout=10)
        self.pg_proxy.close()
        self.redis_proxy.close()
        self.admin.extensions["idp"].database.dispose()
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(match=self.redis_prefix + "*"))
        if keys:
            r.delete(*keys)
        r.close()
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self._admin.dispose()


def wait_until_ready(instance: Instance, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise RuntimeError(f"{instance.name} exited:\n{instance.logs()[-3000:]}")
        try:
            if requests.get(instance.url + "/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or its workers still booting
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{instance.name} not ready after {timeout}s:\n{instance.logs()[-3000:]}")


def on(rp: RelyingParty, instance: Instance, cluster: Cluster) -> RelyingParty:
    """The same relying party (same PKCE verifier and nonce) talking to another instance."""
    return replace(rp, provider=cluster.provider(instance))


# Fixtures for test modules that need two instances (imported by them; one cluster per module).


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """Two instances, ``a`` and ``b``, on one database and one Redis, with the test user."""
    cluster = Cluster(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    try:
        cluster.start("a")
        cluster.start("b")
        cluster.provider(cluster.instances[0]).create_user()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def a(cluster):
    return cluster.instances[0]


@pytest.fixture(scope="module")
def b(cluster):
    return cluster.instances[1]

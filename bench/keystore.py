"""Cost of the signing-key store on the hot path and of its lifecycle work.

    .venv/bin/python bench/keystore.py [DATABASE_URL]

Default URL: a temporary SQLite file. Pass a PostgreSQL URL of a scratch database (it is
migrated and its ``signing_keys`` table emptied). Prints one line per measurement; the
figures in docs/key-rotation.md ("Costs") come from this script.
"""

from __future__ import annotations

import sys
import tempfile
import time
import timeit

from idp.core.clock import FixedClock
from idp.core.settings import KeySettings, ServerSettings, Settings, StorageSettings
from idp.domain.keys import lifecycle as keyring
from idp.domain.keys.keystore import DatabaseKeyStore
from idp.storage.sql.database import Database
from idp.storage.sql.migrate import upgrade
from idp.storage.sql.models import StoredKey


def per_call(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main(url: str) -> None:
    upgrade(url)
    database = Database(url)
    with database.engine.begin() as conn:
        conn.execute(StoredKey.__table__.delete())
    settings = Settings(
        server=ServerSettings(secret_key="b" * 40, instance_dir=tempfile.mkdtemp()),
        storage=StorageSettings(database_url=url),
        keys=KeySettings(passphrase="bench passphrase 123"),
    )
    clock = FixedClock(time.time())
    store = DatabaseKeyStore(database, settings, clock)
    started = time.perf_counter()
    store.signing_key("RS256")
    print(f"first use (create RS256+ES256 current/next, decrypt): {(time.perf_counter() - started) * 1e3:.0f} ms")
    print(f"signing_key() between re-reads: {per_call(lambda: store.signing_key('ES256'), 100_000) * 1e6:.2f} µs")
    print(f"jwks_bytes() between re-reads:  {per_call(store.jwks_bytes, 100_000) * 1e6:.2f} µs")
    print(f"re-read of the key table (every IDP_KEYS_RELOAD_SECONDS): {per_call(store.refresh, 200) * 1e3:.2f} ms")
    policy = keyring.Policy.from_settings(settings)

    def rotate():
        with database.session() as db:
            keyring.rotate(db, "ES256", clock.now(), policy, force=True)
            db.commit()

    print(f"rotation (ES256, incl. new next key): {per_call(rotate, 20) * 1e3:.1f} ms")
    database.dispose()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")

"""The pieces private_key_jwt relies on: the store's atomic ``add`` (the jti replay cache) on the
in-process store and on real Redis, and keys fetched from a client's ``jwks_uri``."""

from __future__ import annotations

import json
import os
import secrets
import threading

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.storage.store.memory import MemoryStore
from idp.storage.store.redis import RedisStore
from tests.e2e.test_private_key_jwt import ASSERTION_TYPE

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_store():
    import redis

    prefix = f"idp_test_{os.getpid()}_{secrets.token_hex(4)}:"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is required at {REDIS_URL}")
    return RedisStore(REDIS_URL, prefix), prefix


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    import redis

    store, prefix = _redis_store()
    yield store
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_add_only_once(store):
    assert store.add("jti:a", {"seen": True}, 60) is True
    assert store.add("jti:a", {"seen": True}, 60) is False
    assert store.get("jti:a") == {"seen": True}
    store.delete("jti:a")
    assert store.add("jti:a", {"seen": True}, 60) is True


def test_concurrent_adds_admit_exactly_one(store):
    results = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(store.add("jti:race", {"seen": True}, 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_keys_from_jwks_uri_are_fetched_and_cached(make_provider, tmp_path):
    """A real https fetch through the outbound client: a loopback server with a test CA's certificate
    for keys.example.edu, which the injected resolver maps to 127.0.0.1 (allow-listed, as an
    operator would for an internal relying party). Two token requests, one fetch."""
    import trustme

    from idp.core.outbound import AllowList, OutboundClient
    from tests.support.outbound_helpers import FakeDNS, Server, ok

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    server = Server(
        ok(json.dumps({"keys": [key.as_dict(private=False)]}).encode()), tls=ca.issue_cert("keys.example.edu")
    )
    outbound = OutboundClient(
        AllowList.parse(["127.0.0.1/32"]),
        resolver=FakeDNS({"keys.example.edu": ["127.0.0.1"]}),
        ca_file=str(tmp_path / "ca.pem"),
    )
    provider = make_provider(outbound=outbound)
    try:
        rp = provider.create_client(
            name="Keyed service",
            grant_types=["client_credentials"],
            redirect_uris=[],
            scope="api.read",
            token_endpoint_auth_method="private_key_jwt",
            jwks_uri=f"https://keys.example.edu:{server.port}/jwks.json",
        )
        for _ in range(2):
            now = int(provider.clock.now())
            assertion = jwt.encode(
                {"alg": "ES256", "kid": "k1"},
                {
                    "iss": rp.client_id,
                    "sub": rp.client_id,
                    "aud": provider.url + "/token",
                    "exp": now + 60,
                    "jti": secrets.token_urlsafe(8),
                },
                key,
                algorithms=["ES256"],
            )
            response = requests.post(
                provider.url + "/token",
                timeout=5,
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
            )
            assert response.status_code == 200, response.text
        assert len(server.requests) == 1 and server.sni == ["keys.example.edu"]
    finally:
        server.close()

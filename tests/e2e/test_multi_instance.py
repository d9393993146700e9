"""Two provider processes (granian via ``idp serve``) on two ports, one PostgreSQL, one Redis:
they act as one provider. Each test signs in through one instance and continues on the other:
code exchange, refresh, single sign-on and logout, concurrent refreshes, one throttle counted
across both, and a key rotated on A's host (``idp keys rotate``) served and used by B within
``IDP_KEYS_RELOAD_SECONDS``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from idp.storage.sql.models import RefreshToken
from tests.support.cluster import IDP_COMMAND, ISSUER, Cluster, a, b, cluster, on  # noqa: F401  (module-scoped fixtures)
from tests.support.helpers import PASSWORD, Browser, bearer, query

pytestmark = pytest.mark.e2e
#: ``IDP_KEYS_RELOAD_SECONDS`` of the cluster's instances (the default).
RELOAD_SECONDS = 2


def refresh(rp, refresh_token) -> requests.Response:
    return rp.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})


def userinfo(instance, access_token) -> requests.Response:
    return requests.get(instance.url + "/userinfo", headers=bearer(access_token), timeout=10)


def verify_id_token(instance, id_token) -> dict:
    keys = KeySet.import_key_set(requests.get(instance.url + "/jwks.json", timeout=10).json())
    claims = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"]).claims
    assert claims["iss"] == ISSUER
    return claims


def sign_in(cluster, instance):
    """A new browser and client; the browser signs in on ``instance``. Returns (rp, browser, callback)."""
    rp = cluster.relying_party(instance)
    browser = Browser(cluster.provider(instance))
    return rp, browser, rp.sign_in(browser)


def test_sign_in_on_a_exchange_on_b_refresh_on_a(cluster, a, b):
    rp_a, _browser, callback = sign_in(cluster, a)
    tokens = on(rp_a, b, cluster).exchange(callback)
    claims = verify_id_token(b, tokens["id_token"])
    assert claims["aud"] == [rp_a.client_id] or claims["aud"] == rp_a.client_id

    refreshed = refresh(rp_a, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    for instance in (a, b):
        response = userinfo(instance, refreshed.json()["access_token"])
        assert response.status_code == 200 and response.json()["sub"] == claims["sub"]
    # Discovery and JWKS are the same documents on both.
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        assert requests.get(a.url + path, timeout=10).json() == requests.get(b.url + path, timeout=10).json()


def test_code_is_single_use_across_instances(cluster, a, b):
    rp_a, _browser, callback = sign_in(cluster, a)
    assert on(rp_a, b, cluster).exchange(callback)["access_token"]
    second = rp_a.token_request(
        {
            "grant_type": "authorization_code",
            "code": query(callback)["code"],
            "redirect_uri": rp_a.redirect_uri,
            "code_verifier": rp_a.verifier,
        }
    )
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_session_from_a_is_single_sign_on_at_b_and_logout_on_b_ends_it_for_a(cluster, a, b):
    rp_a, browser, callback = sign_in(cluster, a)
    tokens = rp_a.exchange(callback)

    rp_b = on(rp_a, b, cluster)
    silent = browser.get(rp_b.authorization_url(prompt="none"))
    assert silent.status_code == 302 and "code" in query(silent.headers["Location"]), silent.text[:300]

    signed_out = browser.get(b.url + "/logout", params={"id_token_hint": tokens["id_token"]})
    assert signed_out.status_code == 200, signed_out.text[:300]

    after = browser.get(rp_a.authorization_url(prompt="none"))
    assert after.status_code == 302
    assert query(after.headers["Location"])["error"] == "login_required"
    # Without offline_access... this grant had it, so its refresh token outlives the session on purpose;
    # the browser session itself is gone everywhere:
    assert "Signed in" not in browser.get(a.url + "/").text


def test_concurrent_refreshes_on_a_and_b_leave_exactly_one_valid_successor(cluster, a, b):
    rp_a, _browser, callback = sign_in(cluster, a)
    rp_b = on(rp_a, b, cluster)
    token = rp_a.exchange(callback)
    grant_id = None
    for _round in range(6):
        barrier = threading.Barrier(2)
        results: dict = {}

        def race(name, rp, refresh_token=token["refresh_token"], barrier=barrier, results=results):
            barrier.wait(timeout=10)
            results[name] = refresh(rp, refresh_token)

        threads = [threading.Thread(target=race, args=("a", rp_a)), threading.Thread(target=race, args=("b", rp_b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [200, 400], {k: (r.status_code, r.text[:200]) for k, r in results.items()}
        loser = next(r for r in results.values() if r.status_code == 400)
        assert loser.json()["error"] == "invalid_grant"
        token = next(r for r in results.values() if r.status_code == 200).json()
        # The winner's tokens work on both instances: no spurious family revocation.
        assert userinfo(a, token["access_token"]).status_code == 200
        assert userinfo(b, token["access_token"]).status_code == 200
        grant_id = (
            grant_id
            or jwt.decode(
                token["access_token"], KeySet.import_key_set(requests.get(a.url + "/jwks.json", timeout=10).json())
            ).claims["gid"]
        )

    provider = cluster.provider(a)
    assert provider.audit_events("token.refresh_reuse") == []
    with cluster.admin.app_context():
        from idp.http.context import deps

        with deps().database.session() as db:
            live = db.scalar(
                select(func.count())
                .select_from(RefreshToken)
                .where(
                    RefreshToken.grant_id == grant_id,
                    RefreshToken.rotated_at.is_(None),
                    RefreshToken.revoked_at.is_(None),
                )
            )
    assert live == 1
    assert refresh(rp_b, token["refresh_token"]).status_code == 200


def test_metrics_count_the_flows_of_every_worker(cluster, a, b):
    rp, _browser, callback = sign_in(cluster, a)
    on(rp, b, cluster).exchange(callback)
    text = requests.get(a.url + "/metrics", timeout=10).text
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")
    }
    assert samples['idp_sign_ins_total{outcome="ok"}'] >= 1
    assert samples["idp_argon2_verify_seconds_count"] >= 1
    assert samples['idp_http_request_duration_seconds_count{endpoint="web.login_post",method="POST"}'] >= 1
    assert any(k.startswith('idp_signing_key_age_seconds{alg="RS256"') for k in samples)
    text_b = requests.get(b.url + "/metrics", timeout=10).text
    assert 'idp_tokens_issued_total{grant_type="authorization_code"}' in text_b


def test_logs_are_json_with_request_ids_and_hold_no_secret(cluster, a, b):
    """A full flow across both instances, with a failed sign-in, then every log line is searched."""
    rp = cluster.relying_party(a)
    browser = Browser(cluster.provider(a))
    page = browser.follow(browser.get(rp.authorization_url()))
    wrong_password = "wrong-" + PASSWORD[::-1]
    assert browser.submit_login(page, password=wrong_password).status_code == 401
    callback = rp.sign_in(browser)
    rp_b = on(rp, b, cluster)
    tokens = rp_b.exchange(callback)
    refreshed = refresh(rp, tokens["refresh_token"]).json()
    assert userinfo(b, refreshed["access_token"]).status_code == 200
    introspect = requests.post(
        a.url + "/introspect",
        data={"token": refreshed["access_token"]},
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert introspect.json()["active"] is True
    revoked = requests.post(
        b.url + "/revoke", data={"token": refreshed["refresh_token"]}, auth=(rp.client_id, rp.client_secret), timeout=10
    )
    assert revoked.status_code == 200
    marker = browser.get(b.url + "/logout", params={"id_token_hint": tokens["id_token"]})
    request_id = marker.headers["X-Request-ID"]

    secrets_seen = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "client secret": rp.client_secret,
        "code": query(callback)["code"],
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "id token": tokens["id_token"],
        "refreshed access token": refreshed["access_token"],
        "refreshed refresh token": refreshed["refresh_token"],
        "PKCE verifier": rp.verifier,
    }
    secrets_seen.update({f"cookie {c.name}": c.value for c in browser.http.cookies if len(c.value) >= 16})
    logs = a.logs() + b.logs()
    for what, value in secrets_seen.items():
        assert value and value not in logs, f"the {what} appears in the logs"

    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert all(r["time"].endswith("+00:00") and r["level"] and "request_id" in r for r in records)
    requests_logged = [r for r in records if r["logger"] == "idp.access"]
    assert len(requests_logged) >= 10
    assert all(len(r["request_id"]) == 16 and "?" not in r["path"] for r in requests_logged)
    assert any(r["request_id"] == request_id and r["path"] == "/logout" for r in requests_logged)
    # Everything but the one start-up banner on stdout is JSON.
    others = [line for line in logs.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith("SPOM Login provider:") for line in others), others[:5]


def test_a_throttle_is_counted_across_both_instances(cluster, a, b):
    """Failures on A and on B add up to one per-account allowance (5 free failures by default)."""
    cluster.provider(a).create_user(registration_number="S1000077", email="grace@example.edu")
    instances = [a, b, a, b, a]

    def attempt(instance, password="not the password"):
        browser = Browser(cluster.provider(instance))
        return browser.submit_login(browser.get("/login"), "S1000077", password)

    assert [attempt(i).status_code for i in instances] == [401] * 5
    for instance in (b, a):
        refused = attempt(instance, PASSWORD)  # even the right password: the throttle decides first
        assert refused.status_code == 429, refused.text[:300]
        assert "Too many attempts" in refused.text


def keys_rotate_on_a_host(cluster, a) -> tuple[str, str]:
    """``idp keys rotate --force`` as an operator runs it on A's host: same settings, same database."""
    env = cluster.env()
    run = subprocess.run(
        [IDP_COMMAND, "keys", "rotate", "--alg", "RS256", "--force", "--json"],
        env=env,
        cwd=cluster.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    listed = subprocess.run(
        [IDP_COMMAND, "keys", "list", "--json"],
        env=env,
        cwd=cluster.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = json.loads(listed.stdout)
    current = json.loads(run.stdout)["rotated"][0]["current"]
    assert any(r["kid"] == current and r["state"] == "current" for r in rows)
    return current, next(r["kid"] for r in rows if r["alg"] == "RS256" and r["state"] == "next")


def test_a_key_rotated_on_a_is_served_and_used_by_b_within_seconds(cluster, a, b):
    rp, _browser, callback = sign_in(cluster, a)
    old_kid = jwt.decode(
        on(rp, b, cluster).exchange(callback)["id_token"],
        KeySet.import_key_set(requests.get(b.url + "/jwks.json", timeout=10).json()),
    ).header["kid"]

    current, new_next = keys_rotate_on_a_host(cluster, a)
    assert current != old_kid
    rotated_at, seen = time.monotonic(), set()
    while new_next not in seen and time.monotonic() - rotated_at < 15:
        seen = {k["kid"] for k in requests.get(b.url + "/jwks.json", timeout=10).json()["keys"]}
        time.sleep(0.2)
    assert new_next in seen and old_kid in seen, seen  # the new next key published; the old one kept
    waited = time.monotonic() - rotated_at
    assert waited < 15

    # B now signs ID tokens with the promoted key; they verify against A's key set too.
    # Each worker re-reads the keys on its first request once its copy is 2 s old, so from 2 s after
    # the rotation every worker of B serves the new set.
    time.sleep(max(0.0, rotated_at + RELOAD_SECONDS + 0.2 - time.monotonic()))
    rp_b, _browser_b, callback_b = sign_in(cluster, b)
    id_token = rp_b.exchange(callback_b)["id_token"]
    decoded = jwt.decode(id_token, KeySet.import_key_set(requests.get(a.url + "/jwks.json", timeout=10).json()))
    assert decoded.header["kid"] == current

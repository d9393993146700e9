"""Faults under bounded load, on two real provider processes: Redis and PostgreSQL outages (a
loopback proxy in front of each is cut and restored; the shared servers are never touched) and
the loss of one provider process. The figures of these scenarios are in docs/reliability.md
(measured with bench/faults.py); the bounds here are generous on purpose: they tell "answers
quickly and recovers by itself" from "hangs a worker" or "needs a restart", on a busy machine.
"""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text

from tests.support.cluster import Cluster, a, b, cluster, on  # noqa: F401  (module-scoped fixtures)
from tests.support.helpers import Browser, bearer, query
from tests.support.load import Load, run_outage

pytestmark = pytest.mark.e2e

#: Well under gunicorn's worker timeout (30 s): a request that took longer was hung, not refused.
QUICK = 8.0
#: Time the instances get to serve again after the dependency is back, with no restart.
RECOVERY = 15.0


def completed_sign_in(cluster, instance):
    """A user who finished signing in before the fault: their browser, client and tokens."""
    rp = cluster.relying_party(instance)
    browser = Browser(cluster.provider(instance))
    return rp, browser, rp.exchange(rp.sign_in(browser))


def assert_still_signed_in(cluster, instance, rp, browser, tokens):
    """Nothing the user completed is lost: SSO session, access token, refresh token."""
    silent = browser.get(on(rp, instance, cluster).authorization_url(prompt="none"))
    assert silent.status_code == 302 and "code" in query(silent.headers["Location"]), silent.text[:300]
    assert (
        requests.get(instance.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=10).status_code == 200
    )
    refreshed = on(rp, instance, cluster).token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    return refreshed.json()


def pids(cluster):
    return [i.process.pid for i in cluster.instances if i.process.poll() is None]


def test_redis_outage_fails_sign_ins_closed_and_they_resume_by_themselves(cluster, a, b):
    rp, browser, tokens = completed_sign_in(cluster, a)
    portal = cluster.relying_party(a, name="Supplier Portal", trusted=False)  # with a consent step
    sso: dict = {}

    def single_sign_on_during_the_outage():
        on_b = on(portal, b, cluster)
        browser.provider = cluster.provider(b)
        sso["tokens"] = on_b.exchange(on_b.sign_in(browser))

    before = pids(cluster)
    outage = run_outage(
        Load(cluster, [a, b]),
        cluster.redis_proxy,
        during=single_sign_on_during_the_outage,
        recovered=lambda o: o.recovery("sign_in") is not None,
    )

    assert outage.unexpected() == []
    # Password sign-ins need the brute-force counters in Redis: refused with 503, never a 500 or a hang.
    assert outage.statuses("sign_in") == {503}
    assert outage.slowest() < QUICK
    # Pending sign-ins are saved in PostgreSQL instead (the store's fallback); what needs only
    # PostgreSQL keeps working through the outage.
    assert outage.statuses("authorize") == {302}
    assert outage.statuses("userinfo") == {200} and outage.statuses("client_credentials") == {200}
    # The user who was signed in completed single sign-on to another relying party, no password.
    assert sso["tokens"]["id_token"]
    # Back by themselves, same processes.
    assert outage.recovery("sign_in") is not None and outage.recovery("sign_in") < RECOVERY
    assert pids(cluster) == before
    tokens = assert_still_signed_in(cluster, b, rp, browser, tokens)
    assert requests.get(a.url + "/readyz", timeout=10).json()["status"] == "ok"


def test_postgresql_outage_gives_quick_503_and_the_pool_recovers(cluster, a, b):
    rp, browser, tokens = completed_sign_in(cluster, b)
    before = pids(cluster)
    outage = run_outage(
        Load(cluster, [a, b]),
        cluster.pg_proxy,
        recovered=lambda o: all(o.recovery(k) is not None for k in ("sign_in", "userinfo")),
    )

    assert outage.unexpected() == []
    for kind in ("sign_in", "authorize", "userinfo", "client_credentials"):
        assert outage.statuses(kind) == {503}, (kind, outage.statuses(kind))
    assert outage.slowest() < QUICK
    for kind in ("sign_in", "userinfo", "client_credentials"):
        assert outage.recovery(kind) is not None and outage.recovery(kind) < RECOVERY, kind
    assert pids(cluster) == before
    assert_still_signed_in(cluster, a, rp, browser, tokens)
    assert_nothing_half_written(cluster)


def assert_nothing_half_written(cluster):
    """Each code exchange writes a grant and its refresh token in one transaction: never one alone;
    a family never has two live refresh tokens; every session belongs to a user who signed in."""
    with cluster.admin.extensions["idp"].database.engine.connect() as conn:
        orphan_grants = conn.scalar(
            text(
                "SELECT count(*) FROM grants g WHERE g.scope LIKE '%offline_access%' AND NOT EXISTS "
                "(SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id)"
            )
        )
        double_live = conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT grant_id FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL "
                "GROUP BY grant_id HAVING count(*) > 1) t"
            )
        )
        sessions_without_sign_in = conn.scalar(
            text(
                "SELECT count(*) FROM browser_sessions s WHERE NOT EXISTS (SELECT 1 FROM audit_events e "
                "WHERE e.type = 'login.success' AND e.user_id = s.user_id AND e.occurred_at <= s.created_at + 1)"
            )
        )
    assert (orphan_grants, double_live, sessions_without_sign_in) == (0, 0, 0)


def test_killing_one_instance_leaves_the_other_serving_every_flow(cluster, a):
    c = cluster.start("c")
    rp, browser, tokens = completed_sign_in(cluster, c)
    pending = cluster.relying_party(c)
    pending_browser = Browser(cluster.provider(c))
    login_page = pending_browser.follow(pending_browser.get(pending.authorization_url()))
    assert login_page.status_code == 200

    c.kill()

    # Users and tokens from the dead instance carry on at the survivor.
    tokens = assert_still_signed_in(cluster, a, rp, browser, tokens)
    # A sign-in that was half-way through on the dead instance finishes on the survivor.
    pending_a = on(pending, a, cluster)
    pending_browser.provider = cluster.provider(a)
    response = pending_browser.follow(pending_browser.submit_login(login_page))
    assert response.status_code == 302, response.text[:300]
    assert pending_a.exchange(response.headers["Location"])["access_token"]
    # A new sign-in, logout, and client credentials all work on the survivor.
    fresh_rp, fresh_browser, fresh = completed_sign_in(cluster, a)
    assert fresh_browser.get(a.url + "/logout", params={"id_token_hint": fresh["id_token"]}).status_code == 200
    after = fresh_browser.get(fresh_rp.authorization_url(prompt="none"))
    assert query(after.headers["Location"])["error"] == "login_required"

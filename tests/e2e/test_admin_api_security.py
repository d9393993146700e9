"""The admin API's security staff endpoints (issue 20): signing keys (list, rotate within the rules,
revoke with a typed confirmation), sign-in anomalies from the audit trail (placed in time by moving the
injected clock), the throttle after real failed sign-ins, the safe settings, and who may call them
(a person's console token with an app team's role is refused, a security officer's is not)."""

from __future__ import annotations

import math

import pytest
import requests

from idp.core.clock import utc
from idp.domain.factors.policy import MFA_ACR
from idp.domain.staff import SECURITY
from idp.storage.sql import audit
from tests.support.factors import code, enrol_totp_for, submit_code
from tests.support.helpers import bearer, stored_user
from tests.support.keyhelpers import header
from tests.support.registration_helpers import admin_token

PROBLEM = "application/problem+json"
WRONG = "not the password"
PUBLICATION = 600  # IDP_KEY_PUBLICATION_SECONDS of these tests


def iso(ts: float) -> str:
    return utc(ts).isoformat().replace("+00:00", "Z")


class Admin:
    """Calls the admin API with an automation's token, fetching a new one when the clock has moved
    past the old one's lifetime."""

    def __init__(self, provider, token_factory=admin_token):
        self.provider, self.token_factory = provider, token_factory
        self.token, self.issued = None, None

    def __call__(self, method, path, headers=None, **kw):
        now = self.provider.clock.now()
        if self.token is None or now - self.issued > 300:
            self.token, self.issued = self.token_factory(self.provider), now
        return requests.request(
            method,
            self.provider.url + "/admin/api" + path,
            headers={**bearer(self.token), **(headers or {})},
            timeout=10,
            **kw,
        )


@pytest.fixture
def keyed(make_provider, fresh_keys):
    """A provider on keys of its own (made on first use at the test's clock)."""
    return make_provider(key_publication_seconds=PUBLICATION)


@pytest.fixture
def admin(keyed):
    return Admin(keyed)


def jwks_kids(provider) -> set[str]:
    return {k["kid"] for k in requests.get(provider.url + "/jwks.json", timeout=5).json()["keys"]}


def keys_by_state(admin) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for key in admin("GET", "/keys").json()["keys"]:
        found.setdefault((key["alg"], key["state"]), []).append(key["kid"])
    return found


# -- signing keys ---------------------------------------------------------------------------------


def test_keys_are_listed_with_their_lifecycle_and_never_private_material(keyed, admin):
    response = admin("GET", "/keys")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["publication_seconds"] == PUBLICATION
    states = {(k["alg"], k["state"]) for k in body["keys"]}
    assert states == {("ES256", "current"), ("ES256", "next"), ("RS256", "current"), ("RS256", "next")}
    for key in body["keys"]:
        assert set(key) == {"kid", "alg", "state", "created", "activated", "retires_at", "removes_at", "revoked"}
        assert key["created"].endswith("Z") and key["revoked"] is None
        assert (key["activated"] is None) == (key["state"] == "next")
    assert jwks_kids(keyed) == {k["kid"] for k in body["keys"]}
    text = response.text
    assert "private" not in text and '"d"' not in text and "v1." not in text


def test_rotation_is_refused_within_the_publication_period_with_the_reason_and_the_time(keyed, admin):
    before = keys_by_state(admin)
    [next_es] = [k for k in admin("GET", "/keys").json()["keys"] if (k["alg"], k["state"]) == ("ES256", "next")]
    refused = admin("POST", "/keys/rotate", json={})
    assert refused.status_code == 409 and refused.headers["Content-Type"] == PROBLEM
    problem = refused.json()
    assert problem["type"].endswith(":publication_period")
    detail = problem["detail"]
    # When it becomes possible (the next key's publication plus IDP_KEY_PUBLICATION_SECONDS) and why.
    assert next_es["kid"] in detail and "ES256" in detail
    assert "from 20" in detail and "Relying parties" in detail and "IDP_KEY_PUBLICATION_SECONDS" in detail
    assert "force: true" in detail and "Nothing was rotated" in detail
    assert keys_by_state(admin) == before
    assert provider_events(keyed, audit.KEY_ROTATED) == []

    ready = keyed.clock.now() + PUBLICATION
    assert iso(ready) in detail  # every key was made at the same clock second: one time for all

    keyed.clock.advance(PUBLICATION)
    rotated = admin("POST", "/keys/rotate")  # no body: every family in use
    assert rotated.status_code == 200, rotated.text
    done = {r["alg"]: r["current"] for r in rotated.json()["rotated"]}
    assert set(done) == {"ES256", "RS256"} and done["ES256"] == next_es["kid"]
    after = keys_by_state(admin)
    for family in ("ES256", "RS256"):
        assert after[(family, "current")] == before[(family, "next")]
        assert after[(family, "retired")] == before[(family, "current")]
        assert len(after[(family, "next")]) == 1 and after[(family, "next")] != before[(family, "next")]
    events = provider_events(keyed, audit.KEY_ROTATED)
    assert {e.details["alg"] for e in events} == {"ES256", "RS256"}
    assert all(e.details["source"].startswith("admin:") and e.details["trigger"] == "command" for e in events)
    assert after[("ES256", "next")][0] in jwks_kids(keyed)  # the new next key is published at once


def test_force_rotates_one_family_at_once(keyed, admin):
    before = keys_by_state(admin)
    forced = admin("POST", "/keys/rotate", json={"alg": "RS256", "force": True})
    assert forced.status_code == 200, forced.text
    assert forced.json() == {"rotated": [{"alg": "RS256", "current": before[("RS256", "next")][0]}]}
    after = keys_by_state(admin)
    assert after[("ES256", "current")] == before[("ES256", "current")]  # the other family is untouched


@pytest.mark.parametrize(
    "body, field",
    [
        ({"alg": "HS256"}, "alg"),
        ({"alg": 256}, "alg"),
        ({"force": "yes"}, "force"),
        ({"force": 1}, "force"),
    ],
)
def test_rotation_refuses_bad_input_naming_the_field(keyed, admin, body, field):
    before = keys_by_state(admin)
    refused = admin("POST", "/keys/rotate", json=body)
    assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
    assert keys_by_state(admin) == before


def test_rotation_of_a_family_not_in_use_and_of_a_non_json_body(keyed, admin):
    unused = admin("POST", "/keys/rotate", json={"alg": "EdDSA", "force": True})
    assert unused.status_code == 409 and unused.json()["type"].endswith(":alg_not_in_use")
    assert "Ed25519" in unused.json()["detail"] and "ES256, RS256" in unused.json()["detail"]
    not_json = admin("POST", "/keys/rotate", data="force=1", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415
    assert not_json.headers["Content-Type"] == PROBLEM


def test_revoke_with_a_wrong_confirmation_changes_nothing(keyed, admin):
    before = keys_by_state(admin)
    [kid] = before[("RS256", "current")]
    published = jwks_kids(keyed)
    for body in (
        {"reason": "leaked", "confirm": kid[:-1]},
        {"reason": "leaked", "confirm": kid.upper() if kid.upper() != kid else kid + "x"},
        {"reason": "leaked"},
        {"reason": "leaked", "confirm": None},
    ):
        refused = admin("POST", f"/keys/{kid}/revoke", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"].endswith(":confirmation_mismatch") and refused.json()["field"] == "confirm"
        assert "nothing was revoked" in refused.json()["detail"]
    for body, field in (
        ({"confirm": kid}, "reason"),
        ({"confirm": kid, "reason": "  "}, "reason"),
        ({"confirm": kid, "reason": "x" * 501}, "reason"),
        ({"confirm": kid, "reason": "leaked", "end_sessions": "yes"}, "end_sessions"),
    ):
        refused = admin("POST", f"/keys/{kid}/revoke", json=body)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
    assert keys_by_state(admin) == before and jwks_kids(keyed) == published
    assert provider_events(keyed, audit.KEY_REVOKED) == []

    missing = admin("POST", "/keys/no-such-kid/revoke", json={"reason": "leaked", "confirm": "no-such-kid"})
    assert missing.status_code == 404 and missing.json()["type"].endswith(":key_not_found")


def test_a_revoked_key_leaves_jwks_at_once_and_cannot_be_revoked_twice(keyed, admin):
    before = keys_by_state(admin)
    [kid] = before[("RS256", "current")]
    assert kid in jwks_kids(keyed)
    revoked = admin("POST", f"/keys/{kid}/revoke", json={"reason": "Ticket 17: HSM export", "confirm": kid})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"kid": kid, "alg": "RS256", "previous_state": "current", "sessions_ended": 0}
    assert kid not in jwks_kids(keyed)  # this process re-read its keys once the change was committed
    after = keys_by_state(admin)
    assert after[("RS256", "revoked")] == [kid]
    assert after[("RS256", "current")] == before[("RS256", "next")]  # the next key signs at once
    [shown] = [k for k in admin("GET", "/keys").json()["keys"] if k["kid"] == kid]
    assert shown["revoked"] == iso(keyed.clock.now()) and shown["removes_at"]
    [event] = provider_events(keyed, audit.KEY_REVOKED)
    assert event.details["reason"] == "Ticket 17: HSM export" and event.details["source"].startswith("admin:")
    assert event.details["previous_state"] == "current"

    again = admin("POST", f"/keys/{kid}/revoke", json={"reason": "again", "confirm": kid})
    assert again.status_code == 409 and again.json()["type"].endswith(":key_revoked")
    assert len(provider_events(keyed, audit.KEY_REVOKED)) == 1


def test_revoking_with_end_sessions_ends_the_sessions_of_users_who_got_tokens_from_the_key(keyed, admin):
    keyed.create_user()
    rp, browser = keyed.create_client(), keyed.browser()
    tokens = rp.exchange(rp.sign_in(browser))  # an RS256 ID token: the current RS256 key signed it
    [kid] = keys_by_state(admin)[("RS256", "current")]
    assert header(tokens["id_token"])["kid"] == kid
    revoked = admin("POST", f"/keys/{kid}/revoke", json={"reason": "leak", "confirm": kid, "end_sessions": True})
    assert revoked.status_code == 200 and revoked.json()["sessions_ended"] == 1, revoked.text
    assert "Sign in" in browser.follow(browser.get(rp.authorization_url())).text  # no single sign-on any more


def provider_events(provider, type):
    return provider.audit_events(type)


# -- anomalies --------------------------------------------------------------------------------------


def failed_sign_in(provider, username, password=WRONG):
    browser = provider.browser()
    response = browser.submit_login(browser.get("/login"), username, password)
    assert response.status_code in (200, 401, 429), response.status_code
    return response


@pytest.fixture
def watched(make_provider):
    """Small allowances, so a few failures engage the account and IP limiters."""
    provider = make_provider(throttle_account_free=2, rate_login_ip_limit=4)
    provider.create_user()
    return provider


def test_anomalies_count_failures_per_hour_and_list_who_is_throttled_now(watched):
    admin, clock = Admin(watched), watched.clock
    t0 = clock.now()
    failed_sign_in(watched, "early-bird")  # one failure, three hours before the rest
    clock.advance(3 * 3600)  # the per-IP allowance refills meanwhile
    # Two failures each engage the account limiter, the third is refused unverified (still a failure);
    # the 4th verification from 127.0.0.1 uses up its allowance.
    for _ in range(3):
        failed_sign_in(watched, "nobody-here")  # unknown: throttled too, the name never stored
    for _ in range(3):
        failed_sign_in(watched, "S1000001")
    engaged = {e.details["scope"] for e in watched.audit_events(audit.THROTTLE_ENGAGED)}
    assert engaged == {"account", "ip"}, engaged

    body = admin("GET", "/anomalies").json()
    hours = body["failures_per_hour"]
    current = math.floor(clock.now() / 3600)
    assert [h["hour"] for h in hours] == [iso((current - 23 + i) * 3600) for i in range(24)]
    counts = [h["count"] for h in hours]
    assert counts[-1] == 6 and counts[-4] == 1 and sum(counts) == 7, counts
    assert math.floor(t0 / 3600) == current - 3

    throttled = body["throttled"]
    assert throttled["since"] == iso(clock.now() - 3600)
    accounts = {(a["user"], a["login"]) for a in throttled["accounts"]}
    sub = admin("GET", "/users", params={"q": "S1000001"}).json()["users"][0]["sub"]
    assert accounts == {(sub, "S1000001"), (None, None)}
    assert all(a["at"] == iso(clock.now()) and a["events"] >= 1 for a in throttled["accounts"])
    assert [(i["ip"], i["at"]) for i in throttled["ips"]] == [("127.0.0.1", iso(clock.now()))]
    assert "nobody-here" not in str(body) and "early-bird" not in str(body)

    clock.advance(3601)  # an hour later: nobody is throttled "now"; the failures moved one bucket back
    later = admin("GET", "/anomalies").json()
    assert later["throttled"]["accounts"] == [] and later["throttled"]["ips"] == []
    counts = [h["count"] for h in later["failures_per_hour"]]
    assert counts[-1] == 0 and counts[-2] == 6 and counts[-5] == 1 and len(counts) == 24

    clock.advance(24 * 3600)
    assert [h["count"] for h in admin("GET", "/anomalies").json()["failures_per_hour"]] == [0] * 24


def test_anomalies_with_an_empty_audit_trail(keyed, admin):
    body = admin("GET", "/anomalies").json()
    assert body["throttled"]["accounts"] == [] and body["throttled"]["ips"] == []
    assert [h["count"] for h in body["failures_per_hour"]] == [0] * 24
    assert body["failures_per_hour"][-1]["hour"] == iso(math.floor(keyed.clock.now() / 3600) * 3600)


# -- the throttle -----------------------------------------------------------------------------------


def test_throttle_status_and_clear_after_real_failed_sign_ins(watched):
    admin = Admin(watched)
    for _ in range(2):
        failed_sign_in(watched, "ada@example.edu")
    status = admin("GET", "/throttle", params={"user": "S1000001", "ip": "127.0.0.1"})
    assert status.status_code == 200, status.text
    account, ip = status.json()["account"], status.json()["ip"]
    assert account["failures"] == 2 and 0 < account["retry_after"] <= 30  # e-mail and number: one account
    assert ip["address"] == "127.0.0.1" and ip["limits"]["login_ip"]["remaining"] == 2
    blocked = watched.browser()
    page = blocked.get("/login")
    assert "Too many attempts" in blocked.submit_login(page).text  # even the right password waits

    cleared = admin("DELETE", "/throttle", params={"user": "ada@example.edu", "ip": "127.0.0.1"})
    assert cleared.status_code == 200 and cleared.json()["cleared"] >= 2, cleared.text
    after = admin("GET", "/throttle", params={"user": "S1000001", "ip": "127.0.0.1"}).json()
    assert after["account"]["failures"] == 0 and after["account"]["retry_after"] == 0
    assert after["ip"]["limits"]["login_ip"]["remaining"] == 4
    browser = watched.browser()
    signed_in = browser.submit_login(browser.get("/login"), "S1000001")
    assert signed_in.status_code in (302, 303)  # the owner gets in at once

    [event] = watched.audit_events(audit.THROTTLE_CLEARED)
    assert event.details["actor"].startswith("admin:") and event.details["account"] is True
    assert event.details["address"] == "127.0.0.1" and event.details["counters"] == cleared.json()["cleared"]
    assert event.user_id is not None and event.ip == "127.0.0.1"

    unknown = admin("DELETE", "/throttle", params={"user": "nobody-typed-this"})
    assert unknown.status_code == 200
    assert "nobody-typed-this" not in str(watched.audit_events(audit.THROTTLE_CLEARED)[0].details)


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "user"),
        ({"user": ""}, "user"),
        ({"user": "   "}, "user"),
        ({"user": "x" * 255}, "user"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"ip": "localhost"}, "ip"),
        ({"user": "S1000001", "ip": "10.0.0.1/8"}, "ip"),
    ],
)
def test_throttle_refuses_bad_input_naming_the_field(watched, params, field):
    admin = Admin(watched)
    for method in ("GET", "DELETE"):
        refused = admin(method, "/throttle", params=params)
        assert refused.status_code == 400 and refused.headers["Content-Type"] == PROBLEM, refused.text
        assert refused.json()["field"] == field
    assert watched.audit_events(audit.THROTTLE_CLEARED) == []


# -- settings ---------------------------------------------------------------------------------------

SECRET_KEY = "SecretKeyOfThisTest-" + "k" * 24
PASSPHRASE = "PassphraseOfThisTest-0123"
DB_PASSWORD = "DbPasswordOfThisTest"
REDIS_PASSWORD = "RedisPasswordOfThisTest"
SMTP_PASSWORD = "SmtpPasswordOfThisTest"


def test_settings_show_the_policies_and_no_secret(make_provider, fresh_keys):
    from idp.storage.throttle.unlimited import UnlimitedThrottle

    provider = make_provider(
        secret_key=SECRET_KEY,
        keys_passphrase=PASSPHRASE,
        # Shown by kind only; the test's database and store are the injected ones, these URLs are never used.
        database_url=f"postgresql+psycopg://idp:{DB_PASSWORD}@db.example.edu:5432/idp",
        redis_url=f"redis://:{REDIS_PASSWORD}@redis.example.edu:6379/0",
        throttle=UnlimitedThrottle(),
        smtp_host="smtp.example.edu",
        smtp_username="mailer",
        smtp_password=SMTP_PASSWORD,
        mfa_required_roles="employee",
        access_token_seconds=300,
    )
    response = Admin(provider)("GET", "/settings")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issuer"] == provider.url
    assert body["tokens"]["access_token_seconds"] == 300 and body["tokens"]["access_token_alg"] == "ES256"
    assert body["mfa"] == {"required_roles": ["employee"], "grace_days": 14, "grace_signins": 5}
    assert body["throttle"]["account_free"] == 5 and body["throttle"]["rate_login_ip_limit"] == 100
    assert body["keys"]["publication_seconds"] == 86400 and "passphrase" not in body["keys"]
    assert body["storage"] == {"database": "postgresql", "store": "redis", "audit_retention_days": 365}
    assert body["mail"] == {"delivery": "smtp"}
    text = response.text
    for secret in (SECRET_KEY, PASSPHRASE, DB_PASSWORD, REDIS_PASSWORD, SMTP_PASSWORD, "db.example.edu", "mailer"):
        assert secret not in text, secret
    assert "postgresql+psycopg" not in text and "redis://" not in text


def test_settings_of_the_embedded_default(keyed, admin):
    storage = admin("GET", "/settings").json()["storage"]
    assert storage["store"] == "memory" and storage["database"] in ("sqlite", "postgresql")


# -- who may call them ------------------------------------------------------------------------------


def person_token(provider, role, login="S2000002", email="grace@example.edu"):
    """A person's console token: a user holding ``role`` signs in to a console client with a password
    and an authenticator app (acr mfa), as the console does."""
    from idp.storage.sql import staff as staff_repo
    from tests.support.factors import user

    provider.create_user(registration_number=login, email=email, name="Grace Hopper", role="employee")
    with provider.transaction() as db:
        staff_repo.add_role(db, user(db, login).id, role, now=provider.clock.now(), granted_by="test")
    secret, _codes = enrol_totp_for(provider, login)
    provider.clock.advance(30)  # the enrolment used this step's code
    console = provider.create_client(
        name="SPOM Login console", scope="openid profile idp:console", default_acr_values=[MFA_ACR]
    )
    browser = provider.browser()
    page = browser.follow(browser.get(console.authorization_url(scope="openid profile idp:console")))
    second_step = browser.follow(browser.submit_login(page, login))
    assert "/login/second-factor" in (second_step.url or "") or "Second step" in second_step.text
    callback = browser.follow(submit_code(browser, second_step, code(secret, provider.clock.now())))
    assert callback.status_code == 302, callback.text[:300]
    return console.exchange(callback.headers["Location"])["access_token"]


SECURITY_CALLS = [
    ("GET", "/keys", None),
    ("POST", "/keys/rotate", {"force": True}),
    ("POST", "/keys/some-kid/revoke", {"reason": "x", "confirm": "some-kid"}),
    ("GET", "/anomalies", None),
]
THROTTLE_CALLS = [("GET", "/throttle?ip=127.0.0.1", None), ("DELETE", "/throttle?ip=127.0.0.1", None)]


def test_an_app_team_member_cannot_call_the_security_endpoints(keyed):
    token = person_token(keyed, "team:Library")
    before = {k["kid"]: k["state"] for k in Admin(keyed)("GET", "/keys").json()["keys"]}
    for method, path, body in [*SECURITY_CALLS, *THROTTLE_CALLS, ("GET", "/settings", None)]:
        refused = requests.request(method, keyed.url + "/admin/api" + path, headers=bearer(token), json=body, timeout=5)
        assert refused.status_code == 403 and refused.json()["type"].endswith(":forbidden"), (path, refused.text)
    assert {k["kid"]: k["state"] for k in Admin(keyed)("GET", "/keys").json()["keys"]} == before
    assert keyed.audit_events(audit.THROTTLE_CLEARED) == [] and keyed.audit_events(audit.KEY_ROTATED) == []


def test_a_security_officer_uses_them_but_not_the_settings(keyed):
    token = person_token(keyed, SECURITY)

    def call(method, path, body=None):
        return requests.request(method, keyed.url + "/admin/api" + path, headers=bearer(token), json=body, timeout=5)

    assert call("GET", "/keys").status_code == 200
    assert call("GET", "/anomalies").status_code == 200
    assert call("GET", "/throttle?ip=127.0.0.1").status_code == 200
    assert call("POST", "/keys/rotate", {"alg": "RS256", "force": True}).status_code == 200
    cleared = call("DELETE", "/throttle?ip=127.0.0.1")
    assert cleared.status_code == 200
    [cleared_event] = keyed.audit_events(audit.THROTTLE_CLEARED)
    [rotated] = keyed.audit_events(audit.KEY_ROTATED)
    grace = f"user:{stored_user(keyed, 'S2000002').sub}"
    assert cleared_event.details["actor"] == rotated.details["source"] == grace
    settings = call("GET", "/settings")
    assert settings.status_code == 403 and settings.json()["type"].endswith(":forbidden")

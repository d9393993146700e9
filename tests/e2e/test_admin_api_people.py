"""The admin API's people part (issue 20): who calls (/me), disabling, enabling and signing a user out,
a reset link mailed to the user, console roles, a client's usage, the audit trail's ip filter and its
NDJSON export; and a person's console token end to end (the code flow with a second factor), whose
roles, read on every request, decide what it may do."""

from __future__ import annotations

import json

import pytest
import requests
from joserfc import jwt

from idp.domain.factors.policy import MFA_ACR, PWD_ACR
from tests.e2e.test_backchannel_logout import LOOPBACK, Receiver
from tests.support.console import console_client, console_sign_in, console_token, grant_roles, revoke_roles
from tests.support.helpers import CALLBACK, PASSWORD, bearer, decode_id_token, issue_tokens, stored_user
from tests.support.mailserver import link_in, text_of
from tests.support.registration_helpers import admin_token

PROBLEM = "application/problem+json"
ADA = "ada@example.edu"


def api(provider, token):
    def call(method, path, headers=None, **kw):
        return requests.request(
            method, provider.url + "/admin/api" + path, headers={**bearer(token), **(headers or {})}, timeout=10, **kw
        )

    return call


@pytest.fixture
def admin(provider):
    return api(provider, admin_token(provider))


def admin_client_id(admin):
    [found] = [c["client_id"] for c in admin("GET", "/clients").json()["clients"] if c["scope"] == "idp:admin"]
    return found


def person(provider, number, name, email=None):
    return provider.create_user(registration_number=number, name=name, email=email or f"{number.lower()}@example.edu")


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["type"] == f"urn:spom-login:problem:{code}", response.text
    return response.json()


def live_sessions(provider, user):
    from idp.storage.sql.models import BrowserSession

    with provider.transaction() as db:
        return db.query(BrowserSession).filter_by(user_id=user.id, ended_at=None).count()


# -- an automation's token ----------------------------------------------------------------------------


def test_me_says_who_calls(provider, admin):
    me = admin("GET", "/me")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "actor": f"admin:{admin_client_id(admin)}",
        "sub": None,
        "name": "Identity automation",
        "roles": ["idp:admin", "idp:security"],
        "teams": [],
    }


def test_disable_enable_and_sign_out(provider, admin):
    user = provider.create_user()
    browser = provider.browser()
    issue_tokens(provider, browser)
    assert live_sessions(provider, user) == 1

    disabled = admin("POST", f"/users/{user.sub}/disable")
    assert disabled.status_code == 200 and disabled.json()["active"] is False and disabled.json()["sub"] == user.sub
    assert live_sessions(provider, user) == 0
    assert browser.submit_login(browser.get("/login")).status_code != 302  # sign-in refused
    assert admin("POST", f"/users/{user.sub}/disable").json()["active"] is False  # again: nothing changes
    assert len(provider.audit_events("user.disabled")) == 1

    enabled = admin("POST", f"/users/{user.sub}/enable")
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    issue_tokens(provider, provider.browser())
    issue_tokens(provider, provider.browser())
    signed_out = admin("POST", f"/users/{user.sub}/sign-out")
    assert signed_out.status_code == 200 and signed_out.json() == {"sessions_ended": 2}
    assert live_sessions(provider, user) == 0 and stored_user(provider).active
    assert admin("POST", f"/users/{user.sub}/sign-out").json() == {"sessions_ended": 0}

    source = f"admin:{admin_client_id(admin)}"
    for kind in ("user.disabled", "user.enabled", "session.ended_by_user"):
        events = provider.audit_events(kind)
        assert events and {(e.user_id, e.details["source"]) for e in events} == {(user.id, source)}, kind
    for action in ("disable", "enable", "sign-out", "reset-link"):
        problem(admin("POST", f"/users/nobody/{action}"), 404, "user_not_found")


def test_a_reset_link_goes_to_the_users_own_address_and_is_never_shown(mail_provider, smtp_server):
    provider = mail_provider()
    admin = api(provider, admin_token(provider))
    user = provider.create_user()
    sent = admin("POST", f"/users/{user.sub}/reset-link")
    assert sent.status_code == 202 and sent.json() == {"sent": True}
    assert "token" not in sent.text and "http" not in sent.text

    [mail] = smtp_server.wait_for(ADA)
    link = link_in(mail)
    assert link.startswith(provider.url + "/password/reset?token=") and "S1000001" in text_of(mail)
    page = provider.browser().get(link)
    assert page.status_code == 200 and 'name="password"' in page.text
    [event] = provider.audit_events("password.reset_link_issued")
    assert event.user_id == user.id and event.details["delivery"] == "mail"
    assert event.details["source"] == f"admin:{admin_client_id(admin)}"

    # A second link voids the first.
    assert admin("POST", f"/users/{user.sub}/reset-link").status_code == 202
    second = link_in(smtp_server.wait_for(ADA, count=2)[1])
    assert second != link and provider.browser().get(link).status_code != 200

    nobody = provider.create_user(registration_number="S1000002", email=None, name="No Mail")
    problem(admin("POST", f"/users/{nobody.sub}/reset-link"), 409, "no_email")
    admin("POST", f"/users/{user.sub}/disable")
    problem(admin("POST", f"/users/{user.sub}/reset-link"), 409, "user_disabled")
    assert len(provider.audit_events("password.reset_link_issued")) == 2


def test_console_roles_are_given_listed_and_taken(provider, admin):
    user = provider.create_user()
    assert admin("GET", f"/users/{user.sub}/roles").json() == {"roles": []}
    given = admin("POST", f"/users/{user.sub}/roles", json={"role": "team:alpha"})
    assert given.status_code == 201 and given.json() == {"roles": ["team:alpha"]}
    again = admin("POST", f"/users/{user.sub}/roles", json={"role": " team:alpha "})
    assert again.status_code == 200 and again.json() == {"roles": ["team:alpha"]}
    both = admin("POST", f"/users/{user.sub}/roles", json={"role": "idp:security"})
    assert both.status_code == 201 and both.json() == {"roles": ["idp:security", "team:alpha"]}

    for body in ({"role": "team:"}, {"role": "root"}, {"role": 5}, {"role": None}, {}, {"role": "team:a/b"}):
        refused = problem(admin("POST", f"/users/{user.sub}/roles", json=body), 400, "invalid_parameter")
        assert refused["field"] == "role"
    problem(
        admin("POST", f"/users/{user.sub}/roles", data="role=x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    problem(admin("POST", "/users/nobody/roles", json={"role": "team:alpha"}), 404, "user_not_found")

    taken = admin("DELETE", f"/users/{user.sub}/roles/team:alpha")
    assert taken.status_code == 200 and taken.json() == {"roles": ["idp:security"]}
    assert problem(admin("DELETE", f"/users/{user.sub}/roles/team:alpha"), 404, "role_not_held")["field"] == "role"
    assert problem(admin("DELETE", f"/users/{user.sub}/roles/nonsense"), 400, "invalid_parameter")["field"] == "role"
    with_space = admin("POST", f"/users/{user.sub}/roles", json={"role": "team:Student Services"})
    assert with_space.status_code == 201
    assert admin("DELETE", f"/users/{user.sub}/roles/team:Student Services").json() == {"roles": ["idp:security"]}

    source = f"admin:{admin_client_id(admin)}"
    granted = provider.audit_events("user.role_granted")
    assert sorted(e.details["role"] for e in granted) == ["idp:security", "team:Student Services", "team:alpha"]
    assert {e.details["source"] for e in granted} == {source}
    assert [e.details["role"] for e in provider.audit_events("user.role_revoked")] == [
        "team:Student Services",
        "team:alpha",
    ]

    admin("POST", f"/users/{user.sub}/disable")
    problem(admin("POST", f"/users/{user.sub}/roles", json={"role": "team:alpha"}), 409, "user_disabled")


def test_a_clients_usage(provider, admin):
    user = provider.create_user()
    rp = provider.create_client(name="Timetable")
    other = provider.create_client(name="Unused")
    assert admin("GET", f"/clients/{rp.client_id}/usage").json() == {
        "last_token_at": None,
        "active_sessions": 0,
        "errors_24h": {},
    }
    started = provider.clock.now()
    browser = provider.browser()
    callback = rp.sign_in(browser)
    rp.exchange(callback)
    replay = requests.post(
        provider.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": _code_of(callback),
            "redirect_uri": CALLBACK,
            "code_verifier": rp.verifier,
        },
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert replay.status_code == 400
    # A wrong password on the sign-in page of an authorization request to this client.
    page = provider.browser()
    login = page.follow(page.get(rp.authorization_url()))
    assert page.submit_login(login, password="wrong " + PASSWORD).status_code in (200, 401)
    provider.clock.advance(60)
    rp.exchange(rp.sign_in(provider.browser()))  # a second browser session
    third = rp.exchange(rp.sign_in(provider.browser()))  # and a third
    usage = admin("GET", f"/clients/{rp.client_id}/usage").json()
    assert usage["active_sessions"] == 2  # the replay revoked the first session's grant
    assert usage["last_token_at"] == _iso(started + 60)
    provider.clock.advance(60)
    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": third["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    usage = admin("GET", f"/clients/{rp.client_id}/usage").json()
    assert usage["last_token_at"] == _iso(started + 120)  # a refresh counts
    assert usage["errors_24h"] == {"login.failure": 1, "token.code_replay": 1}
    assert admin("GET", f"/clients/{other.client_id}/usage").json()["errors_24h"] == {}

    admin("POST", f"/users/{user.sub}/sign-out")
    assert admin("GET", f"/clients/{rp.client_id}/usage").json()["active_sessions"] == 0
    provider.clock.advance(86400)
    admin = api(provider, admin_token(provider))  # the first one expired meanwhile
    later = admin("GET", f"/clients/{rp.client_id}/usage").json()
    assert later["errors_24h"] == {} and later["last_token_at"] == _iso(started + 120)
    problem(admin("GET", "/clients/no-such-client/usage"), 404, "client_not_found")


def _code_of(callback):
    from tests.support.helpers import query

    return query(callback)["code"]


def _iso(ts):
    from idp.core.clock import utc

    return utc(ts).isoformat().replace("+00:00", "Z")


def test_audit_by_ip_and_its_ndjson_export(provider, admin):
    for n in range(5):
        provider.create_user(registration_number=f"S100000{n}", email=f"u{n}@example.edu")
    for n in range(3):
        browser = provider.browser()
        assert browser.submit_login(browser.get("/login"), username=f"S100000{n}").status_code == 302
    from_here = admin("GET", "/audit", params={"ip": "127.0.0.1", "type": "login.success"}).json()["events"]
    assert len(from_here) == 3 and {e["ip"] for e in from_here} == {"127.0.0.1"}
    assert admin("GET", "/audit", params={"ip": "10.1.2.3"}).json()["events"] == []
    assert admin("GET", "/audit", params={"ip": "::ffff:7f00:1", "type": "login.success"}).json()["events"] == []
    for bad in ("127.0.0.256", "localhost", "", "1" * 100):
        assert problem(admin("GET", "/audit", params={"ip": bad}), 400, "invalid_parameter")["field"] == "ip"

    export = admin("GET", "/audit/export", params={"ip": "127.0.0.1", "type": "login.success"})
    assert export.status_code == 200, export.text
    assert export.headers["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in export.headers["Content-Disposition"] and "X-Next-Before-Id" not in export.headers
    lines = export.text.splitlines()
    assert export.text.endswith("\n") and [json.loads(line) for line in lines] == from_here

    everything = [json.loads(line) for line in admin("GET", "/audit/export").text.splitlines()]
    assert len(everything) == len(provider.audit_events()) and everything == sorted(everything, key=lambda e: -e["id"])
    first = admin("GET", "/audit/export", params={"limit": 2})
    assert [json.loads(line) for line in first.text.splitlines()] == everything[:2]
    cursor = first.headers["X-Next-Before-Id"]
    assert cursor == str(everything[1]["id"])
    rest = admin("GET", "/audit/export", params={"before_id": cursor})
    assert [json.loads(line) for line in rest.text.splitlines()] == everything[2:]
    for name, value in (("limit", "10001"), ("limit", "0"), ("ip", "nope"), ("since", "nan"), ("before_id", "-1")):
        assert problem(admin("GET", "/audit/export", params={name: value}), 400, "invalid_parameter")["field"] == name
    user = stored_user(provider, "S1000001")
    mine = [json.loads(line) for line in admin("GET", "/audit/export", params={"user": user.sub}).text.splitlines()]
    assert mine and {e["user_id"] for e in mine} == {user.id}


# -- a person's console token -------------------------------------------------------------------------


def test_a_console_token_is_a_persons_with_a_second_factor(provider):
    ida = person(provider, "S2000001", "Ida Identity")
    signed_in = console_sign_in(provider, ida, roles=["idp:admin"])
    claims = decode_id_token(provider, signed_in.tokens["id_token"])[1]
    assert claims["acr"] == MFA_ACR and claims["sub"] == ida.sub
    me = api(provider, signed_in.access_token)("GET", "/me")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "actor": f"user:{ida.sub}",
        "sub": ida.sub,
        "name": "Ida Identity",
        "roles": ["idp:admin"],
        "teams": [],
    }


def test_an_app_team_member_sees_and_edits_only_its_teams_clients(provider, admin):
    alpha = admin("POST", "/clients", json={"client_name": "Alpha app", "redirect_uris": [CALLBACK], "team": "alpha"})
    beta = admin("POST", "/clients", json={"client_name": "Beta app", "redirect_uris": [CALLBACK], "team": "beta"})
    assert alpha.status_code == beta.status_code == 201
    alpha_id, beta_id = alpha.json()["client_id"], beta.json()["client_id"]
    tom = person(provider, "S2000002", "Tom Team")
    tom_api = api(provider, console_token(provider, tom, roles=["team:alpha"]))

    me = tom_api("GET", "/me").json()
    assert me["roles"] == ["team:alpha"] and me["teams"] == ["alpha"] and me["actor"] == f"user:{tom.sub}"
    listed = tom_api("GET", "/clients")
    assert listed.status_code == 200 and [c["client_id"] for c in listed.json()["clients"]] == [alpha_id]
    assert tom_api("GET", f"/clients/{alpha_id}").json()["client_name"] == "Alpha app"
    for method, path in (
        ("GET", f"/clients/{beta_id}"),
        ("GET", f"/clients/{beta_id}/usage"),
        ("PATCH", f"/clients/{beta_id}"),
        ("DELETE", f"/clients/{beta_id}"),
        ("POST", f"/clients/{beta_id}/rotate-secret"),
    ):
        kw = {"json": {"client_name": "Mine now"}} if method == "PATCH" else {}
        problem(tom_api(method, path, **kw), 404, "client_not_found")
    assert tom_api("GET", f"/clients/{alpha_id}/usage").status_code == 200

    trusted = problem(tom_api("PATCH", f"/clients/{alpha_id}", json={"trusted": True}), 403, "forbidden")
    assert trusted["field"] == "trusted"
    renamed = tom_api("PATCH", f"/clients/{alpha_id}", json={"client_name": "Alpha 2"})
    assert renamed.status_code == 200 and renamed.json()["client_name"] == "Alpha 2" and not renamed.json()["trusted"]

    before = len(tom_api("GET", "/clients").json()["clients"])
    for body, field in (  # /register's rules: the provider's own scopes only, never trusted
        ({"grant_types": ["client_credentials"], "scope": "idp:admin", "redirect_uris": []}, "scope"),
        ({"redirect_uris": [CALLBACK], "scope": "openid idp:console"}, "scope"),
        ({"redirect_uris": [CALLBACK], "scope": "openid api.payroll"}, "scope"),
        ({"redirect_uris": [CALLBACK], "trusted": True}, "trusted"),
    ):
        refused = problem(
            tom_api("POST", "/clients", json={"client_name": "Sneaky", **body}), 400, "invalid_client_metadata"
        )
        assert refused["field"] == field, body
    assert len(tom_api("GET", "/clients").json()["clients"]) == before
    problem(
        tom_api("POST", "/clients", json={"client_name": "X", "redirect_uris": [CALLBACK], "team": "beta"}),
        400,
        "invalid_parameter",
    )
    created = tom_api("POST", "/clients", json={"client_name": "Alpha reports", "redirect_uris": [CALLBACK]})
    assert created.status_code == 201, created.text
    assert created.json()["team"] == "alpha" and created.json()["created_by"] == f"user:{tom.sub}"
    assert not created.json()["trusted"]

    for method, path in (
        ("GET", "/users"),
        ("GET", "/audit"),
        ("POST", f"/clients/{alpha_id}/disable"),
        ("GET", f"/users/{tom.sub}/roles"),
    ):
        problem(tom_api(method, path), 403, "forbidden")

    registered = [e for e in provider.audit_events("client.registered") if e.client_id == created.json()["client_id"]]
    assert [e.details["actor"] for e in registered] == [f"user:{tom.sub}"]
    [updated] = [e for e in provider.audit_events("client.updated") if e.client_id == alpha_id]
    assert updated.details["actor"] == f"user:{tom.sub}"


def test_a_console_token_without_a_second_factor_is_refused(provider):
    ida = person(provider, "S2000001", "Ida Identity")
    lax = console_client(provider, default_acr_values=None)
    signed_in = console_sign_in(provider, ida, roles=["idp:admin"], console=lax, second_factor=False)
    assert decode_id_token(provider, signed_in.tokens["id_token"])[1]["acr"] == PWD_ACR
    refused = problem(api(provider, signed_in.access_token)("GET", "/me"), 403, "insufficient_scope")
    assert "second factor" in refused["detail"]
    # A token of an ordinary client, even with a second factor, is no console token.
    rp = provider.create_client(name="Ordinary")
    token = console_sign_in(provider, ida, console=rp, scope="openid profile").access_token
    problem(api(provider, token)("GET", "/me"), 403, "insufficient_scope")


def test_a_person_without_a_role_is_refused(provider):
    nobody = person(provider, "S2000003", "Nora Nobody")
    refused = problem(api(provider, console_token(provider, nobody))("GET", "/me"), 403, "forbidden")
    assert "no console role" in refused["detail"]


def test_a_revoked_role_ends_at_the_next_request(provider, admin):
    admin("POST", "/clients", json={"client_name": "Alpha app", "redirect_uris": [CALLBACK], "team": "alpha"})
    tom = person(provider, "S2000002", "Tom Team")
    tom_api = api(provider, console_token(provider, tom, roles=["team:alpha", "team:beta"]))
    assert len(tom_api("GET", "/clients").json()["clients"]) == 1
    revoke_roles(provider, tom, "team:alpha")
    assert tom_api("GET", "/clients").json()["clients"] == []  # same token, roles read again
    assert tom_api("GET", "/me").json()["roles"] == ["team:beta"]
    assert admin("DELETE", f"/users/{tom.sub}/roles/team:beta").status_code == 200
    problem(tom_api("GET", "/clients"), 403, "forbidden")
    grant_roles(provider, tom, "idp:security")
    assert tom_api("GET", "/audit").status_code == 200 and tom_api("GET", "/clients").status_code == 403


def test_a_disabled_persons_token_is_refused(provider):
    ida = person(provider, "S2000001", "Ida Identity")
    token = console_token(provider, ida, roles=["idp:admin"])
    assert api(provider, token)("GET", "/me").status_code == 200
    from tests.support.helpers import update_user

    update_user(provider, "S2000001", active=False)
    response = api(provider, token)("GET", "/me")
    problem(response, 401, "invalid_token")


def test_an_identity_person_disables_a_user_who_is_signed_out_of_their_apps(make_provider):
    provider = make_provider(outbound_allow=LOOPBACK)
    receiver = Receiver()
    try:
        ada = provider.create_user()
        browser = provider.browser()
        rp = provider.create_client(name="Timetable", backchannel_logout_uri=receiver.uri)
        id_claims = rp.verify_id_token(rp.exchange(rp.sign_in(browser))["id_token"])
        ida = person(provider, "S2000001", "Ida Identity")
        ida_api = api(provider, console_token(provider, ida, roles=["idp:admin"]))

        disabled = ida_api("POST", f"/users/{ada.sub}/disable")
        assert disabled.status_code == 200 and disabled.json()["active"] is False
        assert live_sessions(provider, ada) == 0
        assert provider.flush_logouts() == 1
        [raw] = receiver.tokens
        logout = jwt.decode(raw, provider.jwks(), algorithms=["RS256"]).claims
        assert logout["sub"] == ada.sub and logout["sid"] == id_claims["sid"] and logout["aud"] == rp.client_id

        [event] = provider.audit_events("user.disabled")
        assert event.user_id == ada.id and event.details["source"] == f"user:{ida.sub}"
        assert ida_api("POST", f"/users/{ada.sub}/enable").json()["active"] is True
        assert ida_api("POST", f"/users/{ada.sub}/roles", json={"role": "team:alpha"}).status_code == 201
        assert provider.audit_events("user.role_granted")[0].details["source"] == f"user:{ida.sub}"
        assert ida_api("POST", f"/users/{ada.sub}/reset-link").status_code == 202
        assert provider.audit_events("password.reset_link_issued")[0].details["source"] == f"user:{ida.sub}"

        # Never locked out by a click: not one's own account, not one's own idp:admin.
        problem(ida_api("POST", f"/users/{ida.sub}/disable"), 409, "own_account")
        problem(ida_api("DELETE", f"/users/{ida.sub}/roles/idp:admin"), 409, "own_admin_role")
        assert ida_api("GET", f"/users/{ida.sub}/roles").json() == {"roles": ["idp:admin"]}
        assert ida_api("POST", f"/users/{ida.sub}/roles", json={"role": "idp:security"}).status_code == 201
        assert ida_api("DELETE", f"/users/{ida.sub}/roles/idp:security").status_code == 200
        # Another identity person can take it.
        ian = person(provider, "S2000004", "Ian Identity")
        ian_api = api(provider, console_token(provider, ian, roles=["idp:admin"]))
        assert ian_api("DELETE", f"/users/{ida.sub}/roles/idp:admin").json() == {"roles": []}
        problem(ida_api("GET", "/me"), 403, "forbidden")
    finally:
        receiver.close()


def test_security_staff_read_the_audit_trail_but_not_clients_or_users(provider):
    sam = person(provider, "S2000005", "Sam Security")
    sam_api = api(provider, console_token(provider, sam, roles=["idp:security"]))
    assert sam_api("GET", "/me").json()["roles"] == ["idp:security"]
    events = sam_api("GET", "/audit", params={"type": "login.success"})
    assert events.status_code == 200 and events.json()["events"]
    export = sam_api("GET", "/audit/export", params={"user": sam.sub})
    assert export.status_code == 200 and export.text.count("\n") >= 1
    for method, path in (("GET", "/clients"), ("GET", "/users"), ("POST", f"/users/{sam.sub}/sign-out")):
        problem(sam_api(method, path), 403, "forbidden")

"""The admin JSON API: provider-issued admin tokens, RFC 9457 problems, an OpenAPI document that
matches the routes, and schemathesis against that document."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from idp.http.admin.openapi import document
from tests.support.helpers import CALLBACK, bearer, issue_tokens
from tests.support.registration_helpers import admin_token, client_count

PROBLEM = "application/problem+json"


@pytest.fixture
def admin(provider):
    token = admin_token(provider)

    def call(method, path, headers=None, **kw):
        return requests.request(
            method, provider.url + "/admin/api" + path, headers={**bearer(token), **(headers or {})}, timeout=10, **kw
        )

    return call


def test_a_token_is_required(provider):
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"}):
        response = requests.get(provider.url + "/admin/api/clients", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == PROBLEM
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["type"].startswith("urn:spom-login:problem:") and body["detail"]


def test_a_token_without_the_admin_scope_is_refused(provider):
    service = provider.create_client(
        name="Sync", grant_types=["client_credentials"], redirect_uris=[], scope="api.read"
    )
    token = requests.post(
        provider.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.client_secret),
        timeout=5,
    ).json()["access_token"]
    response = requests.get(provider.url + "/admin/api/clients", headers=bearer(token), timeout=5)
    assert response.status_code == 403 and response.json()["type"].endswith("insufficient_scope")


def test_only_admin_clients_may_hold_the_admin_scope(provider):
    from idp.core.errors import ClientMetadataError

    with pytest.raises(ClientMetadataError, match="scope"):
        provider.create_client(name="RP", scope="openid idp:admin")


def test_disabling_the_admin_client_revokes_its_tokens(provider, admin):
    assert admin("GET", "/clients").status_code == 200
    [admin_id] = [c["client_id"] for c in admin("GET", "/clients").json()["clients"] if c["scope"] == "idp:admin"]
    assert admin("POST", f"/clients/{admin_id}/disable").status_code == 200
    assert admin("GET", "/clients").status_code == 401


def test_client_lifecycle(provider, admin):
    created = admin("POST", "/clients", json={"client_name": "Timetable", "redirect_uris": [CALLBACK], "trusted": True})
    assert created.status_code == 201, created.text
    body = created.json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert body["trusted"] and body["created_by"].startswith("admin:") and body["active"]
    assert [s["state"] for s in body["secrets"]] == ["current"]

    shown = admin("GET", f"/clients/{client_id}").json()
    assert "client_secret" not in shown and shown["redirect_uris"] == [CALLBACK]

    patched = admin("PATCH", f"/clients/{client_id}", json={"client_name": "Timetable 2"})
    assert patched.status_code == 200 and patched.json()["client_name"] == "Timetable 2"
    assert patched.json()["redirect_uris"] == [CALLBACK] and patched.json()["trusted"]

    bad = admin("PATCH", f"/clients/{client_id}", json={"redirect_uris": ["https://rp.example.edu/*"]})
    assert bad.status_code == 400 and bad.headers["Content-Type"] == PROBLEM
    assert bad.json()["field"] == "redirect_uris" and bad.json()["type"].endswith("invalid_redirect_uri")
    assert admin("GET", f"/clients/{client_id}").json()["client_name"] == "Timetable 2"

    assert admin("POST", f"/clients/{client_id}/disable").json()["active"] is False
    token = requests.post(
        provider.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=5
    )
    assert token.status_code in (400, 401) and token.json()["error"] == "invalid_client"
    assert admin("POST", f"/clients/{client_id}/enable").json()["active"] is True

    assert admin("DELETE", f"/clients/{client_id}").status_code == 204
    missing = admin("GET", f"/clients/{client_id}")
    assert missing.status_code == 404 and missing.json()["type"].endswith("client_not_found")
    events = {e.type: e for e in provider.audit_events()}
    for kind in ("client.registered", "client.updated", "client.disabled", "client.enabled", "client.deleted"):
        assert events[kind].details["actor"].startswith("admin:"), kind


def test_rejected_creation_leaves_nothing(provider, admin):
    before = client_count(provider)
    for body, field in (
        ({"client_name": "X", "redirect_uris": ["http://rp.example.edu/cb"]}, "redirect_uris"),
        ({"client_name": "", "redirect_uris": [CALLBACK]}, "client_name"),
        ({"client_name": "X", "redirect_uris": [CALLBACK], "grant_types": ["password"]}, "grant_types"),
    ):
        response = admin("POST", "/clients", json=body)
        assert response.status_code == 400 and response.json()["field"] == field, response.text
    not_json = admin("POST", "/clients", data="x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415 and not_json.headers["Content-Type"] == PROBLEM
    assert client_count(provider) == before


def test_registration_tokens_users_and_audit(provider, admin):
    user = provider.create_user()
    issued = admin("POST", "/registration-tokens", json={"team": "Library", "max_clients": 2})
    assert issued.status_code == 201 and len(issued.json()["token"]) >= 43
    registered = requests.post(
        provider.url + "/register",
        headers=bearer(issued.json()["token"]),
        timeout=5,
        json={"client_name": "Catalogue", "redirect_uris": [CALLBACK]},
    )
    assert registered.status_code == 201
    client = admin("GET", f"/clients/{registered.json()['client_id']}").json()
    assert client["team"] == "Library" and client["managed_by_registration"]

    users = admin("GET", "/users", params={"q": "s100"}).json()["users"]
    assert [u["sub"] for u in users] == [user.sub]
    assert admin("GET", f"/users/{user.sub}").json()["registration_number"] == "S1000001"
    assert admin("GET", "/users/nobody").status_code == 404

    events = admin("GET", "/audit", params={"type": "client.registered"}).json()["events"]
    assert [e["client_id"] for e in events] == [registered.json()["client_id"]]
    assert events[0]["details"]["actor"] == "team:Library"
    page = admin("GET", "/audit", params={"limit": 1}).json()["events"]
    older = admin("GET", "/audit", params={"limit": 1, "before_id": page[0]["id"]}).json()["events"]
    assert older and older[0]["id"] < page[0]["id"]
    bad = admin("GET", "/audit", params={"limit": "lots"})
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


@pytest.mark.parametrize(
    "name, value",
    [
        ("limit", "١٢"),
        ("limit", "1_0"),
        ("limit", " 5"),
        ("after_id", "²"),
        ("since", "nan"),
        ("since", "١٢٣"),
        ("until", "inf"),
    ],
)
def test_numbers_in_the_query_are_ascii_only(admin, name, value):
    """``int()`` and ``float()`` take Arabic-Indic digits, '1_0', ' 5' and 'nan': all were accepted."""
    path = "/users" if name == "after_id" else "/audit"
    response = admin("GET", path, params={name: value})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == name and value not in response.json()["detail"]


def test_an_unknown_client_is_not_quoted_back(admin):
    response = admin("GET", "/clients/no-such-client-id")
    assert response.status_code == 404 and "no-such-client-id" not in response.json()["detail"]


def test_openapi_document_matches_the_routes(provider):
    served = requests.get(provider.url + "/admin/api/openapi.json", timeout=5).json()
    assert served == document() and served["openapi"].startswith("3.1")
    routes = set()
    for rule in provider.app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in served["paths"].items() for method in item}
    assert routes == documented


def test_not_found_and_wrong_method_are_problems(provider):
    missing = requests.get(provider.url + "/admin/api/nothing-here", timeout=5)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == PROBLEM
    wrong = requests.put(provider.url + "/admin/api/clients", timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Content-Type"] == PROBLEM
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}


# -- schemathesis: every operation, generated from the document -----------------------------------


@pytest.fixture
def admin_provider(fresh_keys, provider):
    # Keys of its own: a generated POST /keys/rotate with force (or a revocation) changes them.
    return provider, admin_token(provider)


# The document is static (``test_openapi_document_matches_the_routes`` checks it is what is served),
# so it is loaded at import; schemathesis's lazy ``from_fixture`` does not support pytest 9.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_admin_api_conforms_to_its_document(case, admin_provider):
    provider, token = admin_provider
    # positive_data_acceptance is off: the cross-field rules (grant/response type consistency, https
    # redirect URIs, private_key_jwt needing keys) are not expressible in JSON Schema, so a
    # schema-valid body may still earn a 400 problem naming the field. Every other check runs:
    # no 5xx, documented status codes, content types, headers and bodies, invalid data rejected.
    case.call_and_validate(base_url=provider.url, headers=bearer(token), excluded_checks=[positive_data_acceptance])
    _assert_every_client_is_valid(provider)


def _assert_every_client_is_valid(provider):
    """Whatever was generated, no stored client breaks the registration rules."""
    from idp.domain.clients.rules import spec_of
    from idp.http.context import deps
    from idp.storage.sql.clients import list_clients

    with provider.app.app_context(), deps().database.session() as db:
        for row in list_clients(db):
            spec_of(row).validate()


def test_patch_switches_between_jwks_and_jwks_uri(provider, admin):
    from joserfc.jwk import ECKey

    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    created = admin(
        "POST",
        "/clients",
        json={
            "client_name": "Keyed",
            "grant_types": ["client_credentials"],
            "scope": "api.read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
        },
    ).json()
    assert "client_secret" not in created
    moved = admin("PATCH", f"/clients/{created['client_id']}", json={"jwks_uri": "https://keys.example.edu/jwks"})
    assert moved.status_code == 200 and "jwks" not in moved.json()
    secret = admin(
        "PATCH", f"/clients/{created['client_id']}", json={"token_endpoint_auth_method": "client_secret_basic"}
    )
    assert secret.status_code == 200 and len(secret.json()["client_secret"]) >= 43


def test_an_operator_sees_sets_and_clears_a_users_language(provider, admin):
    """``users.locale`` (what the user chose on the sign-in page) is shown and can be set or cleared;
    relying parties then get it as the ``locale`` claim. Audited with the admin client as source."""
    user = provider.create_user()
    assert admin("GET", f"/users/{user.sub}").json()["locale"] is None
    set_de = admin("PATCH", f"/users/{user.sub}", json={"locale": "de"})
    assert set_de.status_code == 200, set_de.text
    assert set_de.json()["locale"] == "de" and set_de.json()["registration_number"] == "S1000001"
    assert admin("GET", "/users", params={"q": "S1000001"}).json()["users"][0]["locale"] == "de"
    rp, tokens = issue_tokens(provider, scope="openid profile")
    assert rp.verify_id_token(tokens["id_token"])["locale"] == "de"
    assert admin("PATCH", f"/users/{user.sub}", json={"locale": "de"}).status_code == 200  # unchanged: no event
    cleared = admin("PATCH", f"/users/{user.sub}", json={"locale": None})
    assert cleared.status_code == 200 and cleared.json()["locale"] is None
    assert admin("GET", f"/users/{user.sub}").json()["locale"] is None
    events = provider.audit_events("user.locale_changed")
    assert [(e.details["locale"], e.details["previous"]) for e in reversed(events)] == [("de", None), (None, "de")]
    [admin_id] = [c["client_id"] for c in admin("GET", "/clients").json()["clients"] if c["scope"] == "idp:admin"]
    assert {(e.details["source"], e.user_id) for e in events} == {(f"admin:{admin_id}", events[0].user_id)}


@pytest.mark.parametrize("value", ["fr", "DE", "de-AT", "", 5, True, ["de"], {"code": "de"}])
def test_an_unsupported_language_is_a_problem_naming_the_allowed_ones(provider, admin, value):
    user = provider.create_user()
    refused = admin("PATCH", f"/users/{user.sub}", json={"locale": value})
    assert refused.status_code == 400 and refused.headers["Content-Type"] == PROBLEM
    body = refused.json()
    assert body["field"] == "locale" and body["type"].endswith("invalid_parameter")
    assert "en, de" in body["detail"] and "none" in body["detail"]
    assert admin("GET", f"/users/{user.sub}").json()["locale"] is None
    assert provider.audit_events("user.locale_changed") == []


def test_only_the_language_of_a_user_can_be_changed(provider, admin):
    user = provider.create_user()
    for body in ({"email": "eve@example.edu"}, {"locale": "de", "role": "employee"}):
        refused = admin("PATCH", f"/users/{user.sub}", json=body)
        assert refused.status_code == 400 and refused.json()["type"].endswith("read_only"), refused.text
        assert "Only locale" in refused.json()["detail"]
    shown = admin("GET", f"/users/{user.sub}").json()
    assert (shown["email"], shown["role"], shown["locale"]) == ("ada@example.edu", "student", None)
    assert admin("PATCH", "/users/nobody", json={"locale": "de"}).status_code == 404
    not_json = admin("PATCH", f"/users/{user.sub}", data="locale=de", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415


def test_registration_tokens_are_listed_without_their_value_and_can_be_revoked(provider, admin):
    issued = admin("POST", "/registration-tokens", json={"team": "Library", "max_clients": 3}).json()
    admin("POST", "/registration-tokens", json={"team": "Sports", "expires_in": 60})
    listed = admin("GET", "/registration-tokens")
    assert listed.status_code == 200 and issued["token"] not in listed.text
    tokens = listed.json()["tokens"]
    assert [t["team"] for t in tokens] == ["Sports", "Library"]  # newest first
    library = tokens[1]
    assert library["max_clients"] == 3 and library["clients_registered"] == 0 and library["revoked_at"] is None

    revoked = admin("POST", f"/registration-tokens/{library['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"].endswith("Z")
    refused = requests.post(
        provider.url + "/register",
        headers=bearer(issued["token"]),
        json={"client_name": "Catalogue", "redirect_uris": [CALLBACK]},
        timeout=5,
    )
    assert refused.status_code == 401
    provider.clock.advance(61)  # the Sports token expires: neither is listed any more
    assert admin("GET", "/registration-tokens").json()["tokens"] == []
    [event] = provider.audit_events("client.registration_token_revoked")
    assert event.details["team"] == "Library" and event.details["actor"].startswith("admin:")
    missing = admin("POST", "/registration-tokens/999999/revoke")
    assert missing.status_code == 404 and missing.json()["type"].endswith(":token_not_found")


def test_patch_with_null_removes_a_member(provider, admin):
    created = admin(
        "POST",
        "/clients",
        json={
            "client_name": "Library",
            "redirect_uris": [CALLBACK],
            "backchannel_logout_uri": "https://library.example.edu/bc",
        },
    ).json()
    assert created["backchannel_logout_uri"] == "https://library.example.edu/bc"
    cleared = admin("PATCH", f"/clients/{created['client_id']}", json={"backchannel_logout_uri": None})
    assert cleared.status_code == 200, cleared.text
    assert "backchannel_logout_uri" not in cleared.json()
    assert "backchannel_logout_uri" not in admin("GET", f"/clients/{created['client_id']}").json()

"""PKCE as a per-client property (OAuth 2.1, RFC 9700 §2.1.1): on for new clients (the default is
``IDP_REQUIRE_PKCE_DEFAULT``), off only on purpose, always on for public clients; the same rule on
every surface (CLI, admin API, RFC 7591 /register); upgraded confidential clients keep working."""

from __future__ import annotations

import json

import pytest
import requests
import sqlalchemy as sa

from idp.core.errors import ClientMetadataError
from idp.domain.clients.rules import ClientSpec, build_client, spec_from_metadata
from idp.storage.sql.migrate import upgrade
from tests.e2e.test_admin_api import admin  # noqa: F401  (a fixture)
from tests.e2e.test_code_flow_rejections import authorize_url, browse_to_callback, code_request
from tests.support.cli import assert_one_line_error, run
from tests.support.helpers import CALLBACK, query
from tests.support.registration_helpers import initial_access_token, register, web_client

PKCE_REQUIRED = "This client must use PKCE: send 'code_challenge' with 'code_challenge_method=S256'."


@pytest.fixture
def user(provider):
    return provider.create_user()


def without_pkce(rp, state="no-pkce") -> str:
    return authorize_url(rp, state=state, code_challenge=None, code_challenge_method=None)


def assert_pkce_required(response, state="no-pkce"):
    """RFC 7636 §4.4.1: invalid_request, sent back to the (validated) redirect URI."""
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].startswith(CALLBACK + "?")
    params = query(response.headers["Location"])
    assert params["error"] == "invalid_request" and params["state"] == state
    assert params["error_description"] == PKCE_REQUIRED
    assert "code" not in params


# -- the authorization endpoint -----------------------------------------------------------------


def test_a_new_confidential_client_must_send_a_code_challenge(provider, user):
    rp = provider.create_client()  # no require_pkce given: the default (on)

    # Refused before sign-in: the user is not asked for a password for a request that cannot succeed.
    assert_pkce_required(provider.browser().get(without_pkce(rp)))
    # With PKCE the same client signs in as before.
    code = query(browse_to_callback(provider.browser(), authorize_url(rp)))["code"]
    assert code_request(rp, code).status_code == 200


def test_a_confidential_client_with_pkce_off_on_purpose_may_omit_it(provider, user):
    rp = provider.create_client(require_pkce=False)

    callback = browse_to_callback(provider.browser(), without_pkce(rp))

    response = code_request(rp, query(callback)["code"], code_verifier=None)
    assert response.status_code == 200, response.text
    # Off means optional, not ignored: a challenge that was sent must still be answered.
    code = query(browse_to_callback(provider.browser(), authorize_url(rp)))["code"]
    assert code_request(rp, code, code_verifier=None).json()["error"] == "invalid_request"


def test_a_public_client_always_requires_pkce(provider, user):
    rp = provider.create_client(public=True)
    assert_pkce_required(provider.browser().get(without_pkce(rp)))
    with pytest.raises(ClientMetadataError) as info:
        build_client(
            ClientSpec(name="SPA", redirect_uris=[CALLBACK], public=True, require_pkce=False), secret_key="k", now=0
        )
    assert info.value.field == "require_pkce"


def test_the_operator_default_applies_to_new_clients_only(make_provider):
    provider = make_provider(require_pkce_default=0)
    provider.create_user()
    token = initial_access_token(provider)
    loose = register(provider, web_client(), token).json()
    strict = register(provider, {**web_client(), "require_pkce": True}, token).json()
    spa = register(provider, {**web_client(), "token_endpoint_auth_method": "none"}, token).json()

    assert (loose["require_pkce"], strict["require_pkce"], spa["require_pkce"]) == (False, True, True)


def test_turning_it_on_later_takes_effect_at_once(provider, user, admin):
    rp = provider.create_client(require_pkce=False)
    assert "code=" in browse_to_callback(provider.browser(), without_pkce(rp, "before"))

    response = admin("PATCH", f"/clients/{rp.client_id}", json={"require_pkce": True})

    assert response.status_code == 200, response.text
    assert response.json()["require_pkce"] is True
    assert_pkce_required(provider.browser().get(without_pkce(rp)))
    assert [e.details["changed"] for e in provider.audit_events("client.updated")] == [["require_pkce"]]


# -- the registration surfaces ------------------------------------------------------------------


def test_registration_metadata_takes_require_pkce_as_a_boolean(provider):
    token = initial_access_token(provider)
    refused = register(provider, {**web_client(), "require_pkce": "no"}, token)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_client_metadata",
        "error_description": "require_pkce: must be true or false",
    }
    public_off = register(
        provider, {**web_client(), "token_endpoint_auth_method": "none", "require_pkce": False}, token
    )
    assert public_off.status_code == 400
    assert public_off.json()["error_description"].startswith("require_pkce: a public client must use PKCE")

    body = register(provider, {**web_client(), "require_pkce": False}, token).json()
    assert body["require_pkce"] is False
    # RFC 7592 update without the member keeps it.
    update = {k: v for k, v in body.items() if k in web_client()}
    kept = requests.put(
        body["registration_client_uri"],
        json={**update, "client_id": body["client_id"]},
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
        timeout=10,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["require_pkce"] is False


def test_a_client_made_public_requires_pkce_whatever_it_had():
    stored = spec_from_metadata({**web_client(), "require_pkce": False}, privileged=True)
    public = spec_from_metadata(
        {**web_client(), "token_endpoint_auth_method": "none"}, privileged=True, defaults=stored
    )
    row, _ = build_client(public, secret_key="k", now=0, require_pkce_default=False)
    assert public.require_pkce is None and row.require_pkce is True


def test_cli_create_and_update(env):
    def client(*args):
        result = run(env, "clients", *args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    created = client("create", "--name", "Library", "--redirect-uri", "https://lib.example.edu/cb")
    assert client("show", created["client_id"])["require_pkce"] is True
    assert client("update", created["client_id"], "--no-require-pkce")["require_pkce"] is False
    # A partial update keeps it.
    assert client("update", created["client_id"], "--name", "Library 2")["require_pkce"] is False
    off = client("create", "--name", "Legacy", "--redirect-uri", "https://old.example.edu/cb", "--no-require-pkce")
    assert client("show", off["client_id"])["require_pkce"] is False
    assert "require PKCE:   no" in run(env, "clients", "show", off["client_id"]).stdout
    assert_one_line_error(
        run(env, "clients", "create", "--name", "SPA", "--public", "--redirect-uri", CALLBACK, "--no-require-pkce"),
        "require_pkce",
    )
    assert "--require-pkce / --no-require-pkce" in run(env, "clients", "create", "--help").stdout


# -- upgrades -----------------------------------------------------------------------------------


def test_the_migration_keeps_what_existing_clients_had(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009_email_verified")
    engine = sa.create_engine(url)
    common = dict(
        trusted=False,
        active=True,
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=[],
        response_types=[],
        scope="openid",
        id_token_signed_response_alg="RS256",
        created_at=0.0,
    )
    clients = sa.Table("clients", sa.MetaData(), autoload_with=engine)
    with engine.begin() as db:
        db.execute(
            clients.insert(),
            [
                dict(client_id="spa", name="SPA", public=True, token_endpoint_auth_method="none", **common),
                dict(
                    client_id="web",
                    name="Web",
                    public=False,
                    token_endpoint_auth_method="client_secret_basic",
                    **common,
                ),
            ],
        )

    upgrade(url)

    with engine.connect() as db:
        rows = dict(db.execute(sa.text("SELECT client_id, require_pkce FROM clients")).all())
    engine.dispose()
    assert {k: bool(v) for k, v in rows.items()} == {"spa": True, "web": False}

"""Per-client second factors (issue 19): ``default_acr_values`` (OpenID Connect Dynamic Registration §2),
``["urn:spom:acr:mfa"]`` for a client whose every sign-in needs a second factor. One rule on every
surface (RFC 7591 /register and RFC 7592 updates, the admin API, ``idp clients``), echoed back; the
migration that adds the column runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import secrets

import pytest
import requests
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url

from idp.core.errors import ClientMetadataError
from idp.domain.clients.rules import spec_from_metadata
from idp.storage.sql.migrate import alembic_config, upgrade
from tests.e2e.test_admin_api import admin  # noqa: F401  (a fixture)
from tests.support.cli import assert_one_line_error, run
from tests.support.constants import BACKENDS
from tests.support.registration_helpers import initial_access_token, register, web_client

MFA, PWD = "urn:spom:acr:mfa", "urn:spom:acr:pwd"
UNSUPPORTED = "default_acr_values: each value must be one of urn:spom:acr:pwd, urn:spom:acr:mfa (acr_values_supported)"


# -- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ([MFA], [MFA]),
        ([PWD, MFA, MFA], [PWD, MFA]),  # repeats dropped, order kept
        ([], None),
        (None, None),
    ],
)
def test_accepted_values(value, expected):
    assert spec_from_metadata({**web_client(), "default_acr_values": value}, privileged=False).default_acr_values == (
        expected
    )


@pytest.mark.parametrize(
    "value,message",
    [
        (["urn:mace:incommon:iap:silver"], UNSUPPORTED),
        ([MFA, "mfa"], UNSUPPORTED),
        ([""], UNSUPPORTED),
        (MFA, "default_acr_values: must be an array of strings"),
        ([1], "default_acr_values: must be an array of strings"),
        ({"acr": MFA}, "default_acr_values: must be an array of strings"),
    ],
)
def test_refused_values(value, message):
    with pytest.raises(ClientMetadataError) as refused:
        spec_from_metadata({**web_client(), "default_acr_values": value}, privileged=True)
    assert str(refused.value) == message and refused.value.error == "invalid_client_metadata"


# -- RFC 7591 / 7592 ----------------------------------------------------------------------------


def test_registration_accepts_echoes_keeps_and_clears_default_acr_values(provider):
    token = initial_access_token(provider)
    created = register(provider, web_client(default_acr_values=[MFA]), token)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["default_acr_values"] == [MFA]
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    read = requests.get(body["registration_client_uri"], headers=auth, timeout=10).json()
    assert read["default_acr_values"] == [MFA]

    update = {k: v for k, v in body.items() if k in web_client()}
    kept = requests.put(
        body["registration_client_uri"], json={**update, "client_id": body["client_id"]}, headers=auth, timeout=10
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["default_acr_values"] == [MFA]  # omitted on an update: kept, like require_pkce
    cleared = requests.put(
        body["registration_client_uri"],
        json={**update, "client_id": body["client_id"], "default_acr_values": None},
        headers=auth,
        timeout=10,
    )
    assert cleared.status_code == 200 and "default_acr_values" not in cleared.json()
    [registered] = provider.audit_events("client.registered")
    assert registered.details["default_acr_values"] == [MFA]
    assert [e.details["changed"] for e in provider.audit_events("client.updated")] == [["default_acr_values"], []]

    plain = register(provider, web_client(), token).json()
    assert "default_acr_values" not in plain


@pytest.mark.parametrize("value", [["urn:example:loa:3"], "urn:spom:acr:mfa"])
def test_registration_refuses_unsupported_values(provider, value):
    refused = register(provider, web_client(default_acr_values=value), initial_access_token(provider))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert refused.json()["error_description"].startswith("default_acr_values: ")


# -- the admin API ------------------------------------------------------------------------------


def test_admin_api_sets_changes_and_refuses(provider, admin):
    created = admin("POST", "/clients", json={**web_client(), "default_acr_values": [MFA]})
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    assert created.json()["default_acr_values"] == [MFA]
    renamed = admin("PATCH", f"/clients/{client_id}", json={"client_name": "Renamed"})
    assert renamed.json()["default_acr_values"] == [MFA]  # a partial update keeps it
    refused = admin("PATCH", f"/clients/{client_id}", json={"default_acr_values": ["gold"]})
    assert refused.status_code == 400
    assert refused.json()["field"] == "default_acr_values" and refused.json()["detail"] == UNSUPPORTED
    cleared = admin("PATCH", f"/clients/{client_id}", json={"default_acr_values": []})
    assert cleared.status_code == 200 and "default_acr_values" not in cleared.json()
    assert "default_acr_values" not in admin("GET", f"/clients/{client_id}").json()


# -- idp clients --------------------------------------------------------------------------------


def test_cli_require_mfa_and_default_acr_values(env):
    def client(*args):
        result = run(env, "clients", *args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    created = client("create", "--name", "Payroll", "--redirect-uri", "https://pay.example.edu/cb", "--require-mfa")
    client_id = created["client_id"]
    assert created["default_acr_values"] == [MFA]
    assert client("show", client_id)["default_acr_values"] == [MFA]
    shown = run(env, "clients", "show", client_id).stdout
    assert f"default acr:    {MFA} (second factor required)" in shown
    assert client("update", client_id, "--name", "Payroll 2")["default_acr_values"] == [MFA]
    assert "default_acr_values" not in client("update", client_id, "--no-require-mfa")
    assert "default acr:    none" in run(env, "clients", "show", client_id).stdout
    both = client("update", client_id, "--default-acr-values", f"{PWD} {MFA}")
    assert both["default_acr_values"] == [PWD, MFA]
    assert "default_acr_values" not in client("update", client_id, "--default-acr-values", "")

    assert_one_line_error(
        run(env, "clients", "update", client_id, "--default-acr-values", "urn:example:gold"),
        "default_acr_values: each value must be one of",
    )
    assert_one_line_error(
        run(env, "clients", "update", client_id, "--require-mfa", "--default-acr-values", MFA), "exclude each other"
    )
    assert "default_acr_values" not in client("show", client_id)  # the refused updates changed nothing
    assert "--require-mfa / --no-require-mfa" in run(env, "clients", "create", "--help").stdout


# -- the migration ------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """A database of this test's own (its schema is moved back and forth), on each backend of the run."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin_url = make_url(os.environ["IDP_TEST_DATABASE_URL"])
    name = f"idp_acr_{os.getpid()}_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def test_the_migration_adds_the_column_and_keeps_existing_clients(empty_database):
    url = empty_database
    upgrade(url, "0013_second_factors")
    engine = sa.create_engine(url)
    clients = sa.Table("clients", sa.MetaData(), autoload_with=engine)
    assert "default_acr_values" not in clients.c
    with engine.begin() as db:
        db.execute(
            clients.insert(),
            [
                dict(
                    client_id="web",
                    name="Web",
                    public=False,
                    trusted=False,
                    active=True,
                    token_endpoint_auth_method="client_secret_basic",
                    redirect_uris=[],
                    post_logout_redirect_uris=[],
                    grant_types=[],
                    response_types=[],
                    scope="openid",
                    id_token_signed_response_alg="RS256",
                    require_pkce=True,
                    created_at=0.0,
                )
            ],
        )
    upgrade(url)
    with engine.begin() as db:
        assert db.execute(sa.text("SELECT client_id, default_acr_values FROM clients")).all() == [("web", None)]
        upgraded = sa.Table("clients", sa.MetaData(), autoload_with=db)
        db.execute(upgraded.update().values(default_acr_values=[MFA]))
        assert db.execute(sa.select(upgraded.c.default_acr_values)).scalar_one() == [MFA]
    command.downgrade(alembic_config(url), "0013_second_factors")
    assert "default_acr_values" not in sa.Table("clients", sa.MetaData(), autoload_with=engine).c
    upgrade(url)
    engine.dispose()


# -- what the column does at sign-in ------------------------------------------------------------


def test_a_client_that_requires_mfa_sends_a_user_without_a_second_factor_to_set_one_up(provider):
    provider.create_user()  # a student: the role does not require a second factor
    plain = provider.create_client()
    strict = provider.create_client(name="Payroll", default_acr_values=[MFA])
    assert "code=" in plain.sign_in(provider.browser())  # the password is enough here

    browser = provider.browser()
    page = browser.follow(browser.get(strict.authorization_url()))
    after_password = browser.follow(browser.submit_login(page))
    assert after_password.status_code == 200, after_password.headers
    assert "Set up a second step of sign-in" in after_password.text


def test_a_request_cannot_lower_the_clients_registered_minimum(provider):
    provider.create_user()
    strict = provider.create_client(name="Payroll", default_acr_values=[MFA])
    browser = provider.browser()
    page = browser.follow(browser.get(strict.authorization_url(acr_values="urn:spom:acr:pwd")))
    after_password = browser.follow(browser.submit_login(page))
    assert "Set up a second step of sign-in" in after_password.text
    assert "code=" not in (after_password.headers.get("Location") or "")

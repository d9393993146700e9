"""Helpers for the registration tests: initial access tokens, admin tokens, RFC 7591 calls."""

from __future__ import annotations

import requests

from tests.support.helpers import CALLBACK, Provider


def initial_access_token(provider: Provider, team="Library", expires_in=30 * 86400, max_clients=None) -> str:
    with provider.transaction() as db:
        _row, token = provider.clients(db).issue_registration_token(
            team=team, expires_in=expires_in, max_clients=max_clients, actor="test"
        )
    return token


def register(provider: Provider, metadata: dict, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(provider.url + "/register", json=metadata, headers=headers, timeout=10)


def web_client(**extra) -> dict:
    return {
        "client_name": "Library catalogue",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile email offline_access",
        **extra,
    }


def client_count(provider: Provider) -> int:
    from idp.http.context import deps
    from idp.storage.sql.clients import list_clients

    with provider.app.app_context(), deps().database.session() as db:
        return len(list_clients(db))


def admin_token(provider: Provider) -> str:
    """An idp:admin client_credentials access token from a freshly created admin client."""
    from idp.domain.clients.rules import ADMIN_SCOPE

    rp = provider.create_client(
        name="Identity automation",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope=ADMIN_SCOPE,
        trusted=False,
    )
    # In process: works whether or not the provider listens on a port (tests/http builds none).
    response = provider.app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials", "scope": ADMIN_SCOPE},
        auth=(rp.client_id, rp.client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json["access_token"]

"""Client secret rotation: the old secret keeps working during the grace period, then stops."""

from __future__ import annotations

import pytest
import requests

from idp.core.errors import ClientOperationError
from tests.support.registration_helpers import admin_token


@pytest.fixture
def service(provider):
    return provider.create_client(
        name="Timetable sync", grant_types=["client_credentials"], redirect_uris=[], scope="api.read"
    )


def token_status(provider, client_id, secret) -> int:
    return requests.post(
        provider.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=5
    ).status_code


def rotate(provider, client_id, grace):
    from idp.domain.clients import service as client_admin
    from idp.storage.sql.clients import get_client

    with provider.transaction() as db:
        secret = provider.clients(db).rotate_secret(get_client(db, client_id), grace=grace, actor="test")
        return secret, client_admin.secrets_of(get_client(db, client_id), provider.deps.now())


def test_both_secrets_work_during_grace_and_only_the_new_one_after(provider, service):
    old = service.client_secret
    new, secrets = rotate(provider, service.client_id, grace=3600)
    assert new != old and len(new) >= 43
    assert [s["state"] for s in secrets] == ["current", "previous"]
    assert token_status(provider, service.client_id, old) == 200
    assert token_status(provider, service.client_id, new) == 200

    provider.clock.advance(3599)
    assert token_status(provider, service.client_id, old) == 200
    provider.clock.advance(1)
    assert token_status(provider, service.client_id, old) == 401
    assert token_status(provider, service.client_id, new) == 200
    event = provider.audit_events(type="client.secret_rotated")[0]
    assert event.client_id == service.client_id and event.details == {"actor": "test", "grace_seconds": 3600}


def test_zero_grace_stops_the_old_secret_at_once(provider, service):
    new, secrets = rotate(provider, service.client_id, grace=0)
    assert [s["state"] for s in secrets] == ["current"]
    assert token_status(provider, service.client_id, service.client_secret) == 401
    assert token_status(provider, service.client_id, new) == 200


def test_a_second_rotation_drops_the_oldest_secret(provider, service):
    first, _ = rotate(provider, service.client_id, grace=3600)
    second, _ = rotate(provider, service.client_id, grace=3600)
    assert token_status(provider, service.client_id, service.client_secret) == 401
    assert token_status(provider, service.client_id, first) == 200
    assert token_status(provider, service.client_id, second) == 200


def test_rotation_through_the_admin_api_lists_both_with_expiry(provider, service):
    token = admin_token(provider)
    response = requests.post(
        f"{provider.url}/admin/api/clients/{service.client_id}/rotate-secret",
        json={"grace_seconds": 86400},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    previous = next(s for s in body["secrets"] if s["state"] == "previous")
    assert previous["expires_at"].endswith("Z")
    assert token_status(provider, service.client_id, body["client_secret"]) == 200
    assert token_status(provider, service.client_id, service.client_secret) == 200
    provider.clock.advance(86400)
    assert token_status(provider, service.client_id, service.client_secret) == 401
    shown = requests.get(
        f"{provider.url}/admin/api/clients/{service.client_id}", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    # The admin token itself has expired by now (access tokens live 10 minutes).
    assert shown.status_code == 401


def test_public_clients_have_no_secret_to_rotate(provider):

    rp = provider.create_client(public=True)
    with pytest.raises(ClientOperationError, match="does not use a client secret"):
        rotate(provider, rp.client_id, grace=60)

"""End-to-end: authorization code + PKCE through a real RP library against a live provider."""

from __future__ import annotations

import requests

from tests.support.helpers import CALLBACK, query


def test_student_signs_in_and_rp_gets_tokens_and_userinfo(provider):
    provider.create_user()
    rp = provider.create_client(name="SPOM Dashboard")
    browser = provider.browser()

    callback = rp.sign_in(browser)
    params = query(callback)
    assert callback.startswith(CALLBACK)
    assert params["state"] == rp.state
    assert params["iss"] == provider.url  # RFC 9207

    token = rp.exchange(callback)
    assert {"access_token", "id_token", "refresh_token"} <= set(token)
    claims = rp.verify_id_token(token["id_token"])
    assert claims["preferred_username"] == "S1000001"
    assert claims["amr"] == ["pwd"] and "sid" in claims and "auth_time" in claims

    info = requests.get(
        provider.url + "/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    )
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == "ada@example.edu"
    assert info.json()["name"] == "Ada Lovelace"


def test_sign_in_with_email_in_any_case(provider):
    provider.create_user()
    rp = provider.create_client()
    callback = rp.sign_in(provider.browser(), username="  ADA@Example.EDU ")
    assert "code" in query(callback)


def test_second_rp_gets_single_sign_on_without_password(provider):
    provider.create_user()
    first, second = provider.create_client(name="Dashboard"), provider.create_client(name="Library")
    browser = provider.browser()
    first.exchange(first.sign_in(browser))

    response = browser.follow(browser.get(second.authorization_url()))
    assert response.status_code == 302 and response.headers["Location"].startswith(CALLBACK)
    token = second.exchange(response.headers["Location"])
    assert second.verify_id_token(token["id_token"])["preferred_username"] == "S1000001"

"""End-to-end: what the authorization and token endpoints refuse, and how a user or RP notices.

Bad clients and redirect URIs get an error page (never a redirect); bad parameters from a
known client come back to its callback with ``error``, ``state`` and ``iss``; the token
endpoint refuses wrong PKCE verifiers, replayed, expired, foreign and mis-addressed codes.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.helpers import CALLBACK, bearer, query

OTHER_CALLBACK = "http://127.0.0.1:9/other-callback"


# -- helpers ---------------------------------------------------------------------------------


def authorize_url(rp, **params) -> str:
    """A hand-built authorization request (PKCE S256 unless the caller overrides or drops it)."""
    values = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid profile email offline_access",
        "state": "st-" + rp.nonce,
        "nonce": rp.nonce,
        "code_challenge": create_s256_code_challenge(rp.verifier),
        "code_challenge_method": "S256",
    }
    values.update(params)
    return rp.provider.url + "/authorize?" + urlencode({k: v for k, v in values.items() if v is not None})


def browse_to_callback(browser, url: str) -> str:
    """Run the browser through sign-in (if needed) and return the callback URL it is sent to."""
    response = browser.follow(browser.get(url))
    if response.status_code == 200 and "Sign in" in response.text:
        response = browser.follow(browser.submit_login(response))
    if response.status_code == 200 and "Allow" in response.text:
        response = browser.follow(browser.submit_consent(response))
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def code_request(rp, code: str, *, redirect_uri="default", code_verifier="default", **extra) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri if redirect_uri == "default" else redirect_uri,
        "code_verifier": rp.verifier if code_verifier == "default" else code_verifier,
    }
    data.update(extra)
    return rp.token_request({k: v for k, v in data.items() if v is not None})


def userinfo_status(provider, access_token) -> int:
    return requests.get(provider.url + "/userinfo", headers=bearer(access_token), timeout=5).status_code


def assert_error_page(response, status=400):
    """An HTML error page from the provider itself: nothing goes to an unvalidated URI."""
    assert response.status_code == status, response.text[:300]
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")


def assert_token_error(response, error: str, status=400):
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"] == error
    assert "access_token" not in response.json()
    assert response.headers.get("Cache-Control") == "no-store"


@pytest.fixture
def user(provider):
    return provider.create_user()


# -- authorization endpoint: error page, never a redirect ------------------------------------


def test_unknown_client_id_gets_error_page_not_redirect(provider, user):
    rp = provider.create_client()
    rp.client_id = "no-such-client"
    browser = provider.browser()

    response = browser.get(authorize_url(rp))

    assert_error_page(response)
    assert "invalid_client" in response.text
    assert CALLBACK not in response.text  # the unverified redirect URI is not offered as a link either


UNREGISTERED_REDIRECT_URIS = [
    "https://attacker.example/callback",
    CALLBACK + "/evil",  # the registered URI as a prefix
    CALLBACK + "x",
    CALLBACK[:-1],  # a prefix of the registered URI
    CALLBACK + "/",
    CALLBACK + "?next=https://attacker.example",
    CALLBACK.replace("/callback", "/CALLBACK"),
    CALLBACK.replace("127.0.0.1:9", "127.0.0.1:9.attacker.example"),
    "http://evil.example/" + CALLBACK,  # the registered URI as a suffix
    "http://evil.example/?r=" + CALLBACK,
]


def test_unregistered_redirect_uri_gets_error_page_not_redirect(provider, user):
    rp = provider.create_client()
    browser = provider.browser()
    for redirect_uri in UNREGISTERED_REDIRECT_URIS:
        assert_error_page(browser.get(authorize_url(rp, redirect_uri=redirect_uri)))

    # Also once the browser is signed in (no sign-in page in between to hide a redirect).
    rp.exchange(rp.sign_in(browser))
    for redirect_uri in UNREGISTERED_REDIRECT_URIS:
        response = browser.get(authorize_url(rp, redirect_uri=redirect_uri))
        assert_error_page(response)
        assert "code=" not in response.text


@pytest.mark.parametrize("redirect_uri", ['http://127.0.0.1:9/c"b', "http://127.0.0.1:9/c\\b"])
def test_unregistered_redirect_uri_with_a_quote_gets_error_page_not_500(provider, user, redirect_uri):
    """Authlib's error quoted the URI, and '"' or '\\' in a description made it raise (a 500)."""
    rp = provider.create_client()
    response = provider.browser().get(authorize_url(rp, redirect_uri=redirect_uri))
    assert_error_page(response)
    assert redirect_uri not in response.text and "an address it has not registered" in response.text


def test_unregistered_redirect_uri_with_bad_parameters_still_gets_error_page(provider, user):
    """Even an error that would normally go back to the RP must not use an unregistered URI."""
    rp = provider.create_client(public=True)
    response = provider.browser().get(
        authorize_url(rp, redirect_uri="https://attacker.example/cb", code_challenge=None, code_challenge_method=None)
    )
    assert_error_page(response)


# -- authorization endpoint: errors redirected to the registered callback ---------------------


@pytest.mark.parametrize("response_type", ['code"', "code\\", 'id_token" onload="x'])
def test_unsupported_response_type_with_a_quote_is_sent_back_not_500(provider, user, response_type):
    rp = provider.create_client()
    response = provider.browser().get(authorize_url(rp, response_type=response_type))
    assert_error_redirect(provider, response, "unsupported_response_type", "st-" + rp.nonce)
    description = query(response.headers["Location"])["error_description"]
    assert description == "This response_type is not supported; use 'code'."


def test_default_id_token_response_type_with_form_post_is_told_to_use_code(provider, user):
    """An RP library's default (response_type=id_token, response_mode=form_post) learns what to change;
    Authlib 1.9 sent ``error_description=id_token``."""
    rp = provider.create_client()
    response = provider.browser().get(authorize_url(rp, response_type="id_token", response_mode="form_post"))
    assert_error_redirect(provider, response, "unsupported_response_type", "st-" + rp.nonce)
    assert query(response.headers["Location"])["error_description"] == (
        "response_type 'id_token' is not supported; use 'code'."
    )


def assert_error_redirect(provider, response, error: str, state: str):
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    params = query(location)
    assert params["error"] == error
    assert params["state"] == state
    assert params["iss"] == provider.url  # RFC 9207, errors included
    assert "code" not in params


def test_public_client_without_code_challenge_is_sent_back_with_invalid_request(provider, user):
    rp = provider.create_client(public=True)
    browser = provider.browser()

    response = browser.get(authorize_url(rp, state="xyz-123", code_challenge=None, code_challenge_method=None))

    # Before sign-in: the user is not asked for a password for a request that cannot succeed.
    assert_error_redirect(provider, response, "invalid_request", "xyz-123")


def test_public_client_without_code_challenge_refused_for_signed_in_user_too(provider, user):
    rp = provider.create_client(public=True)
    browser = provider.browser()
    rp.exchange(rp.sign_in(browser))

    response = browser.get(authorize_url(rp, state="again", code_challenge=None, code_challenge_method=None))

    assert_error_redirect(provider, response, "invalid_request", "again")


def test_plain_code_challenge_method_is_refused(provider, user):
    rp = provider.create_client()
    response = provider.browser().get(
        authorize_url(rp, state="p1", code_challenge=rp.verifier, code_challenge_method="plain")
    )
    assert_error_redirect(provider, response, "invalid_request", "p1")


def test_code_challenge_without_method_is_refused(provider, user):
    """An omitted method means ``plain`` (RFC 7636 §4.3), which is not supported."""
    rp = provider.create_client()
    response = provider.browser().get(authorize_url(rp, state="p2", code_challenge_method=None))
    assert_error_redirect(provider, response, "invalid_request", "p2")


def test_plain_method_refused_for_public_client_after_sign_in(provider, user):
    rp = provider.create_client(public=True)
    browser = provider.browser()
    rp.exchange(rp.sign_in(browser))
    response = browser.get(authorize_url(rp, state="p3", code_challenge=rp.verifier, code_challenge_method="plain"))
    assert_error_redirect(provider, response, "invalid_request", "p3")


# -- token endpoint: PKCE --------------------------------------------------------------------


def test_wrong_code_verifier_is_invalid_grant(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]

    response = code_request(rp, code, code_verifier="W" * 64)

    assert_token_error(response, "invalid_grant")


def test_missing_code_verifier_when_challenge_was_sent_is_invalid_request(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]

    response = code_request(rp, code, code_verifier=None)

    assert_token_error(response, "invalid_request")


def test_missing_code_verifier_public_client_is_invalid_request(provider, user):
    rp = provider.create_client(public=True)
    code = query(rp.sign_in(provider.browser()))["code"]

    response = code_request(rp, code, code_verifier=None, client_id=rp.client_id)

    assert_token_error(response, "invalid_request")


def test_code_verifier_without_earlier_challenge_is_invalid_request(provider, user):
    """RFC 9700 §4.8: a verifier for a code requested without a challenge is a downgrade attempt."""
    rp = provider.create_client(require_pkce=False)  # confidential, PKCE turned off on purpose
    callback = browse_to_callback(
        provider.browser(), authorize_url(rp, code_challenge=None, code_challenge_method=None)
    )
    code = query(callback)["code"]

    response = code_request(rp, code)

    assert_token_error(response, "invalid_request")


def test_confidential_client_without_pkce_can_still_exchange(provider, user):
    """The control for the test above: no challenge and no verifier is a plain RFC 6749 exchange."""
    rp = provider.create_client(require_pkce=False)
    callback = browse_to_callback(
        provider.browser(), authorize_url(rp, code_challenge=None, code_challenge_method=None)
    )

    response = code_request(rp, query(callback)["code"], code_verifier=None)

    assert response.status_code == 200, response.text
    assert {"access_token", "id_token", "refresh_token"} <= set(response.json())


# -- token endpoint: single-use codes ---------------------------------------------------------


def test_code_replay_is_refused_and_revokes_what_the_code_issued(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]

    first = code_request(rp, code)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert userinfo_status(provider, tokens["access_token"]) == 200
    assert provider.audit_events("token.code_replay") == []

    second = code_request(rp, code)
    assert_token_error(second, "invalid_grant")

    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert_token_error(refreshed, "invalid_grant")
    info = requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5)
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]

    events = provider.audit_events("token.code_replay")
    assert len(events) == 1
    assert events[0].client_id == rp.client_id


def test_code_replay_also_revokes_tokens_refreshed_from_the_code(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    first = code_request(rp, code)
    assert first.status_code == 200, first.text
    rotated = rp.token_request({"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    rotated = rotated.json()

    assert_token_error(code_request(rp, code), "invalid_grant")

    assert userinfo_status(provider, rotated["access_token"]) == 401
    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert_token_error(refreshed, "invalid_grant")


def test_replay_of_one_code_leaves_other_grants_alone(provider, user):
    rp = provider.create_client()
    browser = provider.browser()
    code = query(rp.sign_in(browser))["code"]
    other = rp.exchange(rp.sign_in(browser))  # a second, independent grant for the same client and user
    assert code_request(rp, code).status_code == 200

    assert_token_error(code_request(rp, code), "invalid_grant")

    assert userinfo_status(provider, other["access_token"]) == 200
    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": other["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_made_up_code_is_invalid_grant(provider, user):
    rp = provider.create_client()
    assert_token_error(code_request(rp, "not-a-code-we-issued"), "invalid_grant")


# -- token endpoint: client authentication and binding ---------------------------------------


def test_wrong_client_secret_is_invalid_client_with_challenge(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    rp.client_secret = "wrong-" + rp.client_secret

    response = code_request(rp, code)

    assert_token_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].lower().startswith("basic")


@pytest.mark.parametrize(
    "grant_type, description",
    [
        (
            "password",
            "grant_type 'password' is not supported; use authorization_code, refresh_token or client_credentials.",
        ),
        ('pass"word', "This grant_type is not supported; use authorization_code, refresh_token or client_credentials."),
    ],
)
def test_unsupported_grant_type_is_described_without_quoting_the_request(provider, user, grant_type, description):
    rp = provider.create_client()
    response = rp.token_request({"grant_type": grant_type, "username": "S1000001", "password": "x"})
    assert_token_error(response, "unsupported_grant_type")
    assert response.json()["error_description"] == description


def test_unknown_client_at_token_endpoint_is_invalid_client(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    rp.client_id = "no-such-client"
    assert_token_error(code_request(rp, code), "invalid_client", status=401)


def test_code_of_client_a_presented_by_client_b_is_invalid_grant(provider, user):
    a, b = provider.create_client(name="A"), provider.create_client(name="B")
    code = query(a.sign_in(provider.browser()))["code"]
    b.verifier = a.verifier  # B even knows A's verifier: the code is still not B's

    response = code_request(b, code)

    assert_token_error(response, "invalid_grant")
    # B's attempt did not burn A's code: A still redeems it, and the attempt is on the record.
    redeemed = code_request(a, code)
    assert redeemed.status_code == 200, redeemed.text
    assert provider.audit_events("token.code_replay") == []
    events = provider.audit_events("token.code_wrong_client")
    assert [(e.client_id, e.details["issued_to"]) for e in events] == [(b.client_id, a.client_id)]


def test_public_client_cannot_use_a_confidential_clients_code(provider, user):
    confidential, public = provider.create_client(name="A"), provider.create_client(name="Mobile", public=True)
    code = query(confidential.sign_in(provider.browser()))["code"]
    public.verifier = confidential.verifier

    response = code_request(public, code, client_id=public.client_id)

    assert_token_error(response, "invalid_grant")
    assert code_request(confidential, code).status_code == 200


def test_confidential_client_cannot_authenticate_with_none(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    rp.client_secret = None

    response = code_request(rp, code, client_id=rp.client_id)

    assert_token_error(response, "invalid_client", status=401)


# -- token endpoint: expiry and redirect_uri --------------------------------------------------


def test_expired_code_is_invalid_grant(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    seconds = provider.app.extensions["idp"].settings.tokens.code_seconds
    assert seconds == 60

    provider.clock.advance(seconds + 1)

    assert_token_error(code_request(rp, code), "invalid_grant")


def test_code_just_before_expiry_still_works(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]
    provider.clock.advance(provider.app.extensions["idp"].settings.tokens.code_seconds - 5)

    response = code_request(rp, code)

    assert response.status_code == 200, response.text


def test_redirect_uri_mismatch_at_token_endpoint_is_invalid_grant(provider, user):
    rp = provider.create_client(redirect_uris=[CALLBACK, OTHER_CALLBACK])
    code = query(rp.sign_in(provider.browser()))["code"]

    # Another of the client's own registered URIs is still not the one the code was sent to.
    assert_token_error(code_request(rp, code, redirect_uri=OTHER_CALLBACK), "invalid_grant")


def test_missing_redirect_uri_at_token_endpoint_is_invalid_grant(provider, user):
    rp = provider.create_client()
    code = query(rp.sign_in(provider.browser()))["code"]

    assert_token_error(code_request(rp, code, redirect_uri=None), "invalid_grant")


# -- the public client that does everything right ---------------------------------------------


def test_public_client_full_flow_with_pkce_and_no_secret(provider, user):
    rp = provider.create_client(name="SPOM Mobile", public=True)
    assert rp.client_secret is None
    browser = provider.browser()

    callback = rp.sign_in(browser)
    params = query(callback)
    assert params["state"] == rp.state and params["iss"] == provider.url

    token = rp.exchange(callback)
    assert {"access_token", "id_token", "refresh_token"} <= set(token)
    claims = rp.verify_id_token(token["id_token"])
    assert claims["preferred_username"] == "S1000001"
    info = requests.get(provider.url + "/userinfo", headers=bearer(token["access_token"]), timeout=5)
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]

    # The public client refreshes with its client_id alone (rotation included).
    refreshed = requests.post(
        provider.url + "/token",
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": rp.client_id},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != token["refresh_token"]


def test_public_client_sending_a_secret_is_refused(provider, user):
    """A public client has no secret; one that authenticates with Basic anyway is not itself."""
    rp = provider.create_client(public=True)
    code = query(rp.sign_in(provider.browser()))["code"]
    response = requests.post(
        provider.url + "/token",
        timeout=5,
        auth=(rp.client_id, "made-up"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier,
        },
    )
    assert_token_error(response, "invalid_client", status=401)

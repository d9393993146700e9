"""Authorization request parameters, modelled on the OpenID Foundation conformance suite
(``oidcc-basic-certification-test-plan``): each test names the module whose behaviour it checks.

Everything runs end to end against a live provider; time moves only through ``provider.clock``.
"""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.support.helpers import CALLBACK, bearer, decode_id_token, query

BOB = dict(registration_number="S1000002", email="bob@example.edu", name="Bob Babbage")


# -- helpers local to this module ----------------------------------------------------------


def is_login_page(response) -> bool:
    # English by default; German when the request asks for it (ui_locales=de, tests/e2e/test_i18n.py).
    return (
        response.status_code == 200
        and ("<h1>Sign in</h1>" in response.text or "<h1>Anmelden</h1>" in response.text)
        and 'name="password"' in response.text
    )


def is_consent_page(response) -> bool:
    return response.status_code == 200 and 'name="decision" value="allow"' in response.text


def consent_scopes(response) -> list[str]:
    return re.findall(r'<li data-scope="([^"]+)"', response.text)


def callback_params(response, rp) -> dict:
    """The parameters of a redirect to the client's exact redirect URI (nothing else counts)."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.split("?", 1)[0] == rp.redirect_uri, location
    return query(location)


def assert_code(response, rp) -> dict:
    params = callback_params(response, rp)
    assert "error" not in params, params
    assert params["code"] and params["state"] == rp.state and params["iss"] == rp.provider.url
    return params


def assert_error(response, rp, error: str) -> dict:
    """An error redirect as RFC 6749 §4.1.2.1 and RFC 9207 describe it: error, state, iss, no code."""
    params = callback_params(response, rp)
    assert params.get("error") == error, params
    assert "code" not in params
    assert params["state"] == rp.state
    assert params["iss"] == rp.provider.url
    return params


def assert_error_page(response):
    """An error shown to the user, never a redirect to an unvalidated URI (Core §3.1.2.6, RFC 6749 §4.1.2.1)."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert "We could not continue" in response.text


def signed_in(provider, rp, browser=None, **params):
    """A browser that has completed one code flow with ``rp``; returns (browser, token, id token claims)."""
    browser = browser or provider.browser()
    token = rp.exchange(rp.sign_in(browser, **params))
    return browser, token, rp.verify_id_token(token["id_token"])


def login_then_callback(browser, page, username="S1000001"):
    """Submit the sign-in page and follow the provider's redirects up to the client."""
    assert is_login_page(page), page.text[:300]
    return browser.follow(browser.submit_login(page, username=username))


def without(url: str, *names: str) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def userinfo(provider, access_token) -> dict:
    response = requests.get(provider.url + "/userinfo", headers=bearer(access_token), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def rp(provider):
    provider.create_user()
    return provider.create_client()


# -- prompt (oidcc-prompt-none-*, oidcc-prompt-login) --------------------------------------


def test_prompt_none_not_logged_in_returns_login_required(provider, rp):
    """oidcc-prompt-none-not-logged-in: no page, straight back with login_required."""
    response = provider.browser().get(rp.authorization_url(prompt="none"))
    assert_error(response, rp, "login_required")


def test_prompt_none_logged_in_returns_code_without_any_page(provider, rp):
    """oidcc-prompt-none-logged-in: the very first response is the redirect with a code."""
    browser, _, first = signed_in(provider, rp)
    response = browser.get(rp.authorization_url(prompt="none"))
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"]


def test_prompt_login_shows_sign_in_again_and_auth_time_moves_on(provider, rp):
    """oidcc-prompt-login: a signed-in user is asked to sign in again; auth_time is the new sign-in."""
    browser, _, first = signed_in(provider, rp)
    provider.clock.advance(30)

    page = browser.follow(browser.get(rp.authorization_url(prompt="login")))
    assert is_login_page(page)
    response = login_then_callback(browser, page)
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert second["sub"] == first["sub"]
    assert second["auth_time"] >= first["auth_time"] + 30


# -- max_age (oidcc-max-age-1, oidcc-max-age-10000) ----------------------------------------


def test_max_age_1_after_two_seconds_requires_sign_in(provider, rp):
    """oidcc-max-age-1: the sign-in is older than max_age, so the user signs in again."""
    browser, _, first = signed_in(provider, rp)
    provider.clock.advance(2)

    page = browser.follow(browser.get(rp.authorization_url(max_age="1")))
    assert is_login_page(page)
    response = login_then_callback(browser, page)
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert isinstance(second["auth_time"], int)  # Core §3.1.2.1: REQUIRED when max_age was sent
    assert second["auth_time"] >= first["auth_time"] + 2


def test_max_age_1_with_prompt_none_after_two_seconds_is_login_required(provider, rp):
    browser, _, _ = signed_in(provider, rp)
    provider.clock.advance(2)
    assert_error(browser.get(rp.authorization_url(max_age="1", prompt="none")), rp, "login_required")


def test_max_age_10000_uses_the_existing_session(provider, rp):
    """oidcc-max-age-10000: a recent enough sign-in is reused without any page."""
    browser, _, first = signed_in(provider, rp)
    provider.clock.advance(60)

    response = browser.get(rp.authorization_url(max_age="10000"))
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert second["auth_time"] == first["auth_time"]


def test_max_age_0_forces_sign_in_and_then_issues_a_code(provider, rp):
    browser, _, first = signed_in(provider, rp)
    provider.clock.advance(1)

    page = browser.follow(browser.get(rp.authorization_url(max_age="0")))
    assert is_login_page(page)
    response = login_then_callback(browser, page)  # and no endless loop back to the sign-in page
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert second["auth_time"] > first["auth_time"]


# "²" passes str.isdigit() and then int() refuses it (that was a 500); int() takes the Arabic-Indic
# "١٢٣", "1_0" and " +5" (they were accepted): max_age is ASCII digits only, at most nine of them.
@pytest.mark.parametrize("max_age", ["abc", "-1", "1.5", "", "²", "١٢٣", "1_0", "+5", " 5", "9" * 10])
def test_invalid_max_age_is_invalid_request(provider, rp, max_age):
    browser, _, _ = signed_in(provider, rp)
    url = rp.authorization_url(max_age=max_age) if max_age else rp.authorization_url() + "&max_age="
    params = assert_error(browser.get(url), rp, "invalid_request")
    assert "max_age" in params.get("error_description", "")


# -- login_hint, id_token_hint (oidcc-login-hint, oidcc-id-token-hint) -----------------------


def username_value(page) -> str:
    tag = re.search(r'<input id="username"[^>]*>', page.text, re.S).group(0)
    return html.unescape(re.search(r'value="([^"]*)"', tag).group(1))


def test_login_hint_prefills_the_username(provider, rp):
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url(login_hint="ada@example.edu")))
    assert is_login_page(page)
    assert username_value(page) == "ada@example.edu"
    assert_code(login_then_callback(browser, page), rp)


def test_login_hint_is_escaped_in_the_page(provider, rp):
    hint = '"><script>alert(1)</script>'
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url(login_hint=hint)))
    assert is_login_page(page)
    assert "<script>alert(1)" not in page.text
    assert username_value(page) == hint


def test_id_token_hint_of_signed_in_user_with_prompt_none_returns_code(provider, rp):
    browser, token, first = signed_in(provider, rp)
    response = browser.get(rp.authorization_url(prompt="none", id_token_hint=token["id_token"]))
    assert_code(response, rp)
    second = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert second["sub"] == first["sub"]


def test_expired_id_token_hint_is_still_accepted(provider, rp):
    """Core §3.1.2.1: the hint need not be unexpired; it names the user, it does not authenticate."""
    browser, token, first = signed_in(provider, rp)
    assert first["exp"] - first["iat"] < 900
    provider.clock.advance(900)
    response = browser.get(rp.authorization_url(prompt="none", id_token_hint=token["id_token"]))
    assert_code(response, rp)


def test_id_token_hint_naming_another_user_with_prompt_none_is_login_required(provider, rp):
    provider.create_user(**BOB)
    _, bob_token, bob = signed_in(provider, rp, username="S1000002")
    ada_browser, _, ada = signed_in(provider, rp)
    assert bob["sub"] != ada["sub"]

    response = ada_browser.get(rp.authorization_url(prompt="none", id_token_hint=bob_token["id_token"]))
    assert_error(response, rp, "login_required")


def test_id_token_hint_naming_another_user_asks_to_sign_in_as_that_user(provider, rp):
    provider.create_user(**BOB)
    _, bob_token, bob = signed_in(provider, rp, username="S1000002")
    ada_browser, _, _ = signed_in(provider, rp)

    page = ada_browser.follow(ada_browser.get(rp.authorization_url(id_token_hint=bob_token["id_token"])))
    assert is_login_page(page)
    response = login_then_callback(ada_browser, page, username="S1000002")
    assert_code(response, rp)
    assert rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])["sub"] == bob["sub"]


def test_id_token_hint_not_matched_after_signing_in_as_someone_else_is_login_required(provider, rp):
    """The hint names Bob, but Ada signs in: the client must not get a code for Ada."""
    provider.create_user(**BOB)
    _, bob_token, _ = signed_in(provider, rp, username="S1000002")
    browser = provider.browser()
    page = browser.follow(browser.get(rp.authorization_url(id_token_hint=bob_token["id_token"])))
    assert_error(login_then_callback(browser, page, username="S1000001"), rp, "login_required")


def tampered(id_token: str) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


@pytest.mark.parametrize(
    "make_hint",
    [
        lambda token: "garbage",
        lambda token: "a.b.c",
        tampered,
        lambda token: b64url(b'{"alg":"none"}') + "." + token.split(".")[1] + ".",
    ],
    ids=["garbage", "three-dots", "tampered-payload", "alg-none"],
)
def test_invalid_id_token_hint_is_invalid_request(provider, rp, make_hint):
    browser, token, _ = signed_in(provider, rp)
    response = browser.get(rp.authorization_url(prompt="none", id_token_hint=make_hint(token["id_token"])))
    assert_error(response, rp, "invalid_request")


def test_id_token_hint_issued_to_another_client_is_invalid_request(provider, rp):
    other = provider.create_client(name="Other RP")
    browser, token, _ = signed_in(provider, other)
    response = browser.get(rp.authorization_url(prompt="none", id_token_hint=token["id_token"]))
    assert_error(response, rp, "invalid_request")


# -- optional parameters that must not break the flow --------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"display": "page"},  # oidcc-display-page
        {"display": "popup"},  # oidcc-display-popup
        {"ui_locales": "de"},  # oidcc-ui-locales
        {"claims_locales": "de"},  # oidcc-claims-locales
        {"acr_values": "1 2"},  # oidcc-ensure-request-with-acr-values-succeeds
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_optional_parameters_are_accepted(provider, rp, params):
    browser = provider.browser()
    url = rp.authorization_url(**params)
    page = browser.follow(browser.get(url))
    assert is_login_page(page)
    if params.get("ui_locales") == "de":
        assert '<html lang="de">' in page.text and "<h1>Anmelden</h1>" in page.text
    response = login_then_callback(browser, page)
    assert_code(response, rp)
    claims = rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])
    assert claims["preferred_username"] == "S1000001"


# -- claims (oidcc-claims-essential, oidcc-ensure-request-with-claims...) -------------------


def test_claims_essential_name_in_userinfo_with_openid_scope_only(provider, rp):
    """oidcc-claims-essential."""
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    token = rp.exchange(rp.sign_in(provider.browser(), scope="openid", claims=claims))
    assert token["scope"].split() == ["openid"]
    info = userinfo(provider, token["access_token"])
    assert info["name"] == "Ada Lovelace"
    assert "email" not in info  # neither the scope nor the claims request asked for it


def test_claims_request_for_id_token_email_with_openid_scope_only(provider, rp):
    claims = json.dumps({"id_token": {"email": None}})
    token = rp.exchange(rp.sign_in(provider.browser(), scope="openid", claims=claims))
    id_claims = rp.verify_id_token(token["id_token"])
    assert id_claims["email"] == "ada@example.edu"
    assert "email" not in userinfo(provider, token["access_token"])  # asked for in the ID token only


def test_without_claims_request_openid_scope_releases_only_sub(provider, rp):
    token = rp.exchange(rp.sign_in(provider.browser(), scope="openid"))
    assert set(userinfo(provider, token["access_token"])) == {"sub"}
    assert not {"email", "name", "preferred_username"} & set(rp.verify_id_token(token["id_token"]))


def test_claims_request_cannot_reach_past_the_clients_scopes(provider):
    provider.create_user()
    rp = provider.create_client(scope="openid")
    claims = json.dumps({"id_token": {"email": None}, "userinfo": {"name": {"essential": True}}})
    token = rp.exchange(rp.sign_in(provider.browser(), scope="openid", claims=claims))
    assert "email" not in rp.verify_id_token(token["id_token"])
    assert set(userinfo(provider, token["access_token"])) == {"sub"}


def test_claims_request_of_untrusted_client_is_consented_like_its_scopes(provider):
    """What the consent page lists is what the client gets: a claim asked for by name is no back door."""
    provider.create_user()
    third_party = provider.create_client(name="Third-party App", trusted=False)
    browser = provider.browser()
    page = browser.follow(browser.get(third_party.authorization_url(scope="openid")))
    page = browser.follow(browser.submit_login(page))
    assert consent_scopes(page) == ["openid"]
    assert_code(browser.follow(browser.submit_consent(page)), third_party)

    claims = json.dumps({"id_token": {"email": None}})
    assert_error(
        browser.get(third_party.authorization_url(scope="openid", claims=claims, prompt="none")),
        third_party,
        "consent_required",
    )
    page = browser.follow(browser.get(third_party.authorization_url(scope="openid", claims=claims)))
    assert is_consent_page(page)
    assert consent_scopes(page) == ["openid", "email"]
    response = browser.follow(browser.submit_consent(page))
    assert_code(response, third_party)
    assert (
        third_party.verify_id_token(third_party.exchange(response.headers["Location"])["id_token"])["email"]
        == "ada@example.edu"
    )


@pytest.mark.parametrize(
    "claims",
    ['{"userinfo": {"name": ', "[1, 2]", '{"userinfo": 5}', '"name"'],
    ids=["truncated", "array", "member-not-object", "string"],
)
def test_malformed_claims_parameter_is_invalid_request(provider, rp, claims):
    browser, _, _ = signed_in(provider, rp)
    assert_error(browser.get(rp.authorization_url(claims=claims)), rp, "invalid_request")


# -- request objects (oidcc-unsigned-request-object-..., oidcc-request-uri-...) ------------


def test_unsigned_request_object_is_rejected_as_unsupported(provider, rp):
    """oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported."""
    browser = provider.browser()
    url = rp.authorization_url()
    claims = dict(query(url), iss=rp.client_id, aud=provider.url)
    request_object = b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims).encode()) + "."
    assert_error(browser.get(rp.authorization_url(request=request_object)), rp, "request_not_supported")


def test_request_uri_is_rejected_as_unsupported(provider, rp):
    url = rp.authorization_url(request_uri="https://rp.example.edu/request.jwt")
    assert_error(provider.browser().get(url), rp, "request_uri_not_supported")


# -- how the request is sent ---------------------------------------------------------------


def test_authorization_request_by_form_post(provider, rp):
    """Core §3.1.2.1: the authorization endpoint supports POST with form-encoded parameters."""
    browser = provider.browser()
    params = query(rp.authorization_url())
    response = browser.post("/authorize", data=params)
    assert response.status_code in (302, 303)
    page = browser.follow(response)
    response = login_then_callback(browser, page)
    assert_code(response, rp)
    assert rp.verify_id_token(rp.exchange(response.headers["Location"])["id_token"])["preferred_username"] == "S1000001"


def test_form_post_with_prompt_none_returns_code_when_signed_in(provider, rp):
    browser, _, _ = signed_in(provider, rp)
    response = browser.post("/authorize", data=query(rp.authorization_url(prompt="none")))
    assert_code(response, rp)


def test_form_post_errors_are_redirected_like_get(provider, rp):
    response = provider.browser().post("/authorize", data=query(rp.authorization_url(prompt="none")))
    assert_error(response, rp, "login_required")


def test_other_scope_order_succeeds(provider, rp):
    """oidcc-ensure-other-scope-order-succeeds."""
    token = rp.exchange(rp.sign_in(provider.browser(), scope="email openid profile"))
    assert set(token["scope"].split()) == {"openid", "profile", "email"}
    claims = rp.verify_id_token(token["id_token"])
    info = userinfo(provider, token["access_token"])
    assert info["sub"] == claims["sub"]
    assert info["email"] == "ada@example.edu" and info["name"] == "Ada Lovelace"


def test_request_without_nonce_succeeds_for_code_flow(provider, rp):
    """oidcc-ensure-request-without-nonce-succeeds-for-code-flow: nonce is optional; none comes back."""
    browser = provider.browser()
    url = rp.authorization_url(nonce=None)
    assert "nonce" not in query(url)
    page = browser.follow(browser.get(url))
    response = login_then_callback(browser, page)
    assert_code(response, rp)
    _header, claims = decode_id_token(provider, rp.exchange(response.headers["Location"])["id_token"])
    assert "nonce" not in claims
    assert claims["iss"] == provider.url and claims["aud"] in (rp.client_id, [rp.client_id])


def test_nonce_is_returned_exactly(provider, rp):
    rp.nonce = "n-0S6_WzA2Mj"
    _, _, claims = signed_in(provider, rp)  # verify_id_token compares the nonce
    assert claims["nonce"] == "n-0S6_WzA2Mj"


# -- response_type and redirect_uri (oidcc-response-type-missing, oidcc-ensure-*-redirect-uri)


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "code id_token token"])
def test_unsupported_response_type_is_redirected(provider, rp, response_type):
    response = provider.browser().get(rp.authorization_url(response_type=response_type))
    assert_error(response, rp, "unsupported_response_type")


def test_missing_response_type_is_an_error_without_a_code(provider, rp):
    """oidcc-response-type-missing: an error redirect (the redirect URI is valid), never a code."""
    browser, _, _ = signed_in(provider, rp)
    response = browser.get(without(rp.authorization_url(), "response_type"))
    params = callback_params(response, rp)
    assert params.get("error") in ("invalid_request", "unsupported_response_type"), params
    assert "code" not in params and params["state"] == rp.state and params["iss"] == provider.url


def test_openid_request_without_redirect_uri_shows_an_error_page(provider, rp):
    """oidcc-ensure-redirect-uri-in-authorization-request: even with one registered URI, no redirect."""
    browser, _, _ = signed_in(provider, rp)
    response = browser.get(without(rp.authorization_url(), "redirect_uri"))
    assert_error_page(response)
    assert "redirect_uri" in html.unescape(response.text)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9/other",
        CALLBACK + "/extra",
        CALLBACK + "?x=1",
        CALLBACK.upper(),
    ],
    ids=["other-path", "longer-path", "added-query", "different-case"],
)
def test_unregistered_redirect_uri_shows_an_error_page(provider, rp, redirect_uri):
    """oidcc-ensure-registered-redirect-uri: exact matching, and no redirect to the unknown URI."""
    browser, _, _ = signed_in(provider, rp)
    response = browser.get(rp.authorization_url(redirect_uri=redirect_uri))
    assert_error_page(response)


def test_unknown_client_shows_an_error_page(provider, rp):
    url = rp.authorization_url().replace(f"client_id={rp.client_id}", "client_id=no-such-client")
    assert "no-such-client" in url
    assert_error_page(provider.browser().get(url))


# -- consent (untrusted clients) -----------------------------------------------------------


@pytest.fixture
def third_party(provider):
    provider.create_user()
    return provider.create_client(name="Third-party App", trusted=False)


def consent_page_after_sign_in(browser, rp, **params):
    page = browser.follow(browser.get(rp.authorization_url(**params)))
    if is_login_page(page):
        page = browser.follow(browser.submit_login(page))
    return page


def test_untrusted_client_gets_consent_page_listing_requested_scopes(provider, third_party):
    browser = provider.browser()
    page = consent_page_after_sign_in(browser, third_party, scope="openid profile email")
    assert is_consent_page(page)
    assert "Third-party App" in page.text
    assert consent_scopes(page) == ["openid", "profile", "email"]

    response = browser.follow(browser.submit_consent(page, "allow"))
    assert_code(response, third_party)
    claims = third_party.verify_id_token(third_party.exchange(response.headers["Location"])["id_token"])
    assert claims["preferred_username"] == "S1000001"


def test_consent_is_remembered_for_the_next_authorization(provider, third_party):
    browser = provider.browser()
    page = consent_page_after_sign_in(browser, third_party, scope="openid profile")
    assert_code(browser.follow(browser.submit_consent(page, "allow")), third_party)

    response = browser.get(third_party.authorization_url(scope="openid profile"))
    assert_code(response, third_party)  # no page at all
    assert_code(browser.get(third_party.authorization_url(scope="openid profile", prompt="none")), third_party)


def test_consent_is_asked_again_for_additional_scopes(provider, third_party):
    browser = provider.browser()
    page = consent_page_after_sign_in(browser, third_party, scope="openid profile")
    assert_code(browser.follow(browser.submit_consent(page, "allow")), third_party)

    page = browser.follow(browser.get(third_party.authorization_url(scope="openid profile email")))
    assert is_consent_page(page)
    assert "email" in consent_scopes(page)


def test_prompt_consent_shows_the_consent_page_again(provider, third_party):
    browser = provider.browser()
    page = consent_page_after_sign_in(browser, third_party, scope="openid profile")
    assert_code(browser.follow(browser.submit_consent(page, "allow")), third_party)

    page = browser.follow(browser.get(third_party.authorization_url(scope="openid profile", prompt="consent")))
    assert is_consent_page(page)
    assert_code(browser.follow(browser.submit_consent(page, "allow")), third_party)


def test_prompt_consent_is_honoured_for_trusted_clients_too(provider, rp):
    browser, _, _ = signed_in(provider, rp)
    page = browser.follow(browser.get(rp.authorization_url(prompt="consent")))
    assert is_consent_page(page)


def test_deny_returns_access_denied(provider, third_party):
    browser = provider.browser()
    page = consent_page_after_sign_in(browser, third_party, scope="openid profile")
    assert is_consent_page(page)
    assert_error(browser.follow(browser.submit_consent(page, "deny")), third_party, "access_denied")

    # Denying is not remembered as consent.
    assert_error(
        browser.get(third_party.authorization_url(scope="openid profile", prompt="none")),
        third_party,
        "consent_required",
    )


def test_prompt_none_without_consent_is_consent_required(provider, third_party):
    trusted = provider.create_client(name="Portal")
    browser, _, _ = signed_in(provider, trusted)  # signed in, but never asked about the third party
    response = browser.get(third_party.authorization_url(prompt="none"))
    assert_error(response, third_party, "consent_required")


# -- state --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        "a b+c/d?e=f&g#h",
        "ünïcødé-☃-😀",
        "%41%20already-encoded",
        "<script>'\"</script>",
        "x" * 300,
    ],
    ids=["reserved-chars", "unicode", "percent", "markup", "long"],
)
def test_state_is_echoed_exactly(provider, rp, state):
    browser = provider.browser()
    # Error path: not signed in, prompt=none.
    params = assert_error(browser.get(rp.authorization_url(prompt="none", state=state)), rp, "login_required")
    assert params["state"] == state
    # Success path through the sign-in page (the request is stored while the user signs in).
    page = browser.follow(browser.get(rp.authorization_url(state=state)))
    params = assert_code(login_then_callback(browser, page), rp)
    assert params["state"] == state

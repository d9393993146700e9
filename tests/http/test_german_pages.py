"""A German user sees no English sentence: every page and every error the provider shows a person is
rendered with Accept-Language: de (or ui_locales=de), and its visible text is searched for the English
msgids of the catalogue (any of three words or more that appears verbatim is a leak)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from authlib.oauth2 import OAuth2Error
from babel.messages.pofile import read_po
from werkzeug.exceptions import Gone

from idp.core.errors import StoreUnavailable, TooManyAttempts
from idp.http.protocol import authorize, errors
from tests.support.helpers import CALLBACK, PASSWORD, parse_form

CATALOGUE = Path(__file__).resolve().parents[2] / "idp/translations/de/LC_MESSAGES/messages.po"
GERMAN = {"Accept-Language": "de", "Accept": "text/html"}


def _english_fragments() -> set[str]:
    """The English text of every msgid, split at placeholders and markup, of three words or more; not
    those whose German is the same text (brand and proper nouns)."""
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f)
    fragments = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for part in re.split(r"%\(\w+\)[sd]|<[^>]+>|%[sd]", english):
                part = part.strip(" .,:;()")
                if len(part.split()) >= 3:
                    fragments.add(part)
    return fragments


FRAGMENTS = _english_fragments()
#: The technical (English) OAuth error descriptions: a German page shows them only inside lang="en".
TECHNICAL = {text for text in {*errors.SPECIFIC, *errors.GENERIC.values(), errors.FALLBACK} if len(text.split()) >= 3}


def visible_text(page: str) -> str:
    """The text a reader sees, without the elements marked as English (``lang="en"``)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<(\w+)\b[^>]*\blang=\"en\"[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def english_left(page: str) -> list[str]:
    text = visible_text(page)
    return sorted(fragment for fragment in FRAGMENTS | TECHNICAL if fragment in text)


def test_the_catalogue_yields_english_sentences_to_look_for():
    assert any(f.startswith("Most sign-in problems") for f in FRAGMENTS) and len(FRAGMENTS) > 100
    assert "Your session has expired. Please sign in again" in english_left(
        "<p>Your session has expired. Please sign in again.</p>"
    )
    assert english_left("<p>Missing &#39;redirect_uri&#39; in request.</p>") == ["Missing 'redirect_uri' in request."]
    assert english_left('<p>Details: <span lang="en">Missing &#39;redirect_uri&#39; in request.</span></p>') == []


@pytest.fixture
def http(provider):
    provider.create_user(role="employee")
    return provider.app.test_client()


def _german(response, status=200):
    assert response.status_code == status, response.text[:300]
    assert '<html lang="de"' in response.text
    assert english_left(response.text) == []
    return response.text


def _sign_in(http, provider, trusted=True):
    client = provider.create_client(trusted=trusted)
    params = {
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuz_AT-Bsa0",
        "code_challenge_method": "S256",
        "nonce": "n",
        "ui_locales": "de",
    }
    login = http.get("/authorize", query_string=params, headers=GERMAN, follow_redirects=True)
    _german(login)
    form = parse_form(login.text)
    form.update(username="S1000001", password=PASSWORD)
    return http.post(form.pop("_action"), data=form, headers=GERMAN)


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/help", "/password/forgot", "/login/device", "/logout", "/password/reset?token=nonsense"],
)
def test_pages_for_everyone_are_all_german(http, path):
    response = http.get(path, headers=GERMAN)
    _german(response, response.status_code)
    assert response.status_code < 500


def test_the_html_404_page_is_german(http):
    _german(http.get("/no-such-page", headers=GERMAN), 404)


def test_the_default_help_contact_is_german(http):
    page = _german(http.get("/help", headers=GERMAN))
    assert "IT-Servicedesk" in page and "IT service desk" not in page


TWO = "{two}"  # a client with two redirect URIs: without redirect_uri there is nowhere to send an error
AUTHORIZE_PAGE_ERRORS = {
    "missing_client_id": ({"response_type": "code"}, "keine client_id", "Missing 'client_id' parameter."),
    "unknown_client": ({"client_id": "nobody", "response_type": "code"}, "bei uns nicht registriert", None),
    "unregistered_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "redirect_uri": "https://elsewhere.example/cb"},
        "nicht registriert ist",
        None,
    ),
    "missing_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "scope": "openid"},
        "keine redirect_uri",
        "Missing 'redirect_uri' in request.",
    ),
    "unsupported_response_type": (
        {"client_id": "nobody", "response_type": "token"},
        "Art der Anmeldung angefordert, die wir nicht anbieten",
        "response_type 'token' is not supported; use 'code'.",
    ),
    "no_response_type": ({"client_id": "nobody"}, "Art der Anmeldung", None),
    "response_type_quoting_the_request": (
        {"client_id": "nobody", "response_type": 'to"ken'},
        "Art der Anmeldung",
        "This response_type is not supported; use 'code'.",
    ),
    "hybrid_response_type": (
        {"client_id": TWO, "response_type": "code id_token", "scope": "openid"},
        "Art der Anmeldung",
        None,
    ),
    "bad_scope_without_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "scope": "openid nonsense"},
        "keine redirect_uri",
        None,
    ),
    "plain_pkce_without_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "code_challenge": "x" * 43, "code_challenge_method": "plain"},
        "keine redirect_uri",
        None,
    ),
    "request_object_without_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "scope": "openid", "request": "e30.e30."},
        "keine redirect_uri",
        None,
    ),
    "request_uri_without_redirect_uri": (
        {"client_id": TWO, "response_type": "code", "request_uri": "https://rp.example/request.jwt"},
        "keine redirect_uri",
        None,
    ),
    "scope_twice": (
        {"client_id": TWO, "response_type": "code", "scope": ["openid", "email"]},
        "scope kommt doppelt vor",
        "Multiple 'scope' in request.",
    ),
    "state_twice": ({"client_id": TWO, "response_type": "code", "state": ["a", "b"]}, "state kommt doppelt vor", None),
    "response_type_twice": ({"client_id": TWO, "response_type": ["code", "code"]}, "response_type kommt doppelt", None),
}


@pytest.mark.parametrize("case", AUTHORIZE_PAGE_ERRORS)
def test_authorize_errors_shown_to_the_user_are_german(http, provider, case):
    """Every authorize error without a redirect URI to go to is a page in the user's language; the
    technical English description is only a secondary line marked lang="en", and never quotes the
    request."""
    params, german, detail = AUTHORIZE_PAGE_ERRORS[case]
    client = provider.create_client(redirect_uris=[CALLBACK, CALLBACK + "/two"])
    query = {
        k: [x.replace(TWO, client.client_id) for x in v] if isinstance(v, list) else v.replace(TWO, client.client_id)
        for k, v in params.items()
    }
    page = _german(http.get("/authorize", query_string={**query, "ui_locales": "de"}, headers=GERMAN), 400)
    assert german in visible_text(page)
    if detail is not None:
        assert [html.unescape(t) for t in re.findall(r'<span lang="en">(.*?)</span>', page)] == [detail]
    assert 'to"ken' not in html.unescape(page)


@pytest.mark.parametrize("code", [*authorize.PAGE_TEXT_BY_CODE, "no_such_error"])
def test_every_authorize_error_code_has_a_german_sentence(provider, code):
    """Errors whose description has no sentence of its own are explained by their code."""
    error = OAuth2Error(description="Authlib's own words about 'x'.")
    error.error = code
    with provider.app.test_request_context("/authorize", headers=GERMAN):
        text, detail = authorize.page_text(error)
    with provider.app.test_request_context("/authorize", headers={"Accept-Language": "en"}):
        english, _detail = authorize.page_text(error)
    assert english_left(f"<p>{text}</p>") == [] and text != english and english.rstrip(".") in FRAGMENTS
    assert detail == errors.GENERIC.get(code, errors.FALLBACK)  # the request's own words never reach the page


def test_consent_and_account_pages_are_german(http, provider):
    consent = _sign_in(http, provider, trusted=False)
    while consent.status_code in (302, 303) and not consent.headers["Location"].startswith(CALLBACK):
        consent = http.get(consent.headers["Location"], headers=GERMAN)
    page = _german(consent)
    assert "Die Anwendung darf:" in page and "Ihre E-Mail-Adresse sehen" in page
    account = _german(http.get("/account", headers=GERMAN))
    assert "Beschäftigte/r" in account and "employee" not in visible_text(account)
    _german(http.get("/logout", headers=GERMAN))  # the confirmation, signed in
    _german(http.get("/consent?interaction=gone", headers=GERMAN), 400)  # an expired sign-in


def test_a_consent_page_left_open_too_long_offers_the_way_to_the_app_in_german(http, provider):
    response, location = _sign_in(http, provider, trusted=False), None
    while response.status_code in (302, 303) and not response.headers["Location"].startswith(CALLBACK):
        location = response.headers["Location"]
        response = http.get(location, headers=GERMAN)
    assert location and location.startswith("/consent?")
    provider.clock.advance(1800)  # IDP_INTERACTION_SECONDS: the consent page's request is gone
    page = _german(http.get(location, headers=GERMAN), 400)
    assert "Weiter zu Test RP" in page and "erneut gefragt" in page


def test_sent_page_of_a_reset_request_is_german(http):
    form = parse_form(http.get("/password/forgot", headers=GERMAN).text)
    form["username"] = "S1000001"
    sent = http.post(form.pop("_action"), data=form, headers=GERMAN, follow_redirects=True)
    page = _german(sent)
    assert "Prüfen Sie Ihr E-Mail-Postfach" in page


class CapturingMailer:
    """Keeps every mail instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        self.sent.append((to, subject, text))


def test_the_new_password_page_of_a_valid_reset_link_is_german(make_provider):
    mailer = CapturingMailer()
    provider = make_provider(mailer=mailer)
    provider.create_user()
    http = provider.app.test_client()
    form = parse_form(http.get("/password/forgot", headers=GERMAN).text)
    form["username"] = "S1000001"
    http.post(form.pop("_action"), data=form, headers=GERMAN)
    provider.app.extensions["idp"].postman.wait_idle()
    [(_to, subject, text)] = mailer.sent
    assert "Passwort" in subject
    [link] = re.findall(r"https?://\S+/password/reset\?token=\S+", text)
    url = urlsplit(link)
    page = _german(http.get(f"{url.path}?{url.query}", headers=GERMAN))
    assert 'name="confirm"' in page
    mismatch = parse_form(page)
    mismatch.update(password="lantern orchard velvet compass", confirm="something else entirely")
    answer = http.post(mismatch.pop("_action"), data=mismatch, headers=GERMAN)
    assert answer.status_code == 400 and 'name="confirm"' in _german(answer, 400)


def test_the_sign_in_page_of_prompt_select_account_is_german(http, provider):
    """prompt=select_account with a signed-in session: the sign-in page, to choose which account."""
    signed = _sign_in(http, provider)
    assert signed.status_code in (302, 303)
    client = provider.create_client()
    params = {
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuz_AT-Bsa0",
        "code_challenge_method": "S256",
        "prompt": "select_account",
    }
    response = http.get("/authorize", query_string=params, headers=GERMAN)
    assert response.status_code in (302, 303) and "/login?interaction=" in response.headers["Location"]
    page = _german(http.get(response.headers["Location"], headers=GERMAN))
    assert 'name="username"' in page and "Anmelden" in page


def test_throttled_sign_in_and_device_pages_are_german(http):
    login = http.get("/login", headers=GERMAN)
    for _ in range(30):
        form = parse_form(login.text)
        form.update(username="S1000001", password="wrong password")
        login = http.post(form.pop("_action"), data=form, headers=GERMAN)
        _german(login, login.status_code)
        if login.status_code == 429:
            break
    assert login.status_code == 429 and "Zu viele Versuche" in login.text
    form = parse_form(login.text[login.text.index('<section class="device-link"') :])
    form["username"] = "S1000001"
    sent = http.post(form.pop("_action"), data=form, headers=GERMAN, follow_redirects=True)
    _german(sent, sent.status_code)
    assert sent.status_code == 200 and "Prüfen Sie Ihr E-Mail-Postfach" in sent.text
    _german(http.get("/login/device?token=nonsense", headers=GERMAN), 400)  # a link that is not valid
    _german(http.get("/login/device/approved", headers=GERMAN), 200)


@pytest.mark.parametrize("kind", ["reset", "invite", "changed", "device"])
def test_every_mail_is_german_in_german_and_english_mail_continues_with_a_capital(provider, kind):
    from idp.http.mail import compose

    context = {
        "name": "Grace Hopper",
        "registration_number": "S1000002",
        "link": "http://127.0.0.1:8000/x",
        "forgot_link": "http://127.0.0.1:8000/password/forgot",
        "minutes": 15,
        "days": 7,
        "changed_at": 1_700_000_000,
        "signed_out": True,
    }
    with provider.app.test_request_context("/"):
        _subject, text, html_body = compose(kind, "de", **dict(context))
        assert english_left(text) == [] and english_left(html_body) == []
        _subject, text, _html = compose(kind, "en", **dict(context))
    first, second = [line for line in text.splitlines() if line.strip()][:2]
    assert first == "Hello Grace Hopper," and second[0].isupper(), second


# -- the error registry's pages (idp/http/errors.py) -------------------------------------------------

WERKZEUG_GONE = "The requested URL is no longer available on this server and there is no forwarding address."


def _database_down() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


def _authlib_quoting_the_request() -> Exception:
    return OAuth2Error(description='The value "x" is wrong.')  # Authlib's own check raises ValueError


REGISTRY_PAGES = {
    # raised by a page's view: (what it raises, status, the German sentence, English that must not show)
    "rate_limited": (lambda: TooManyAttempts(120, "ip"), 429, "Zu viele Versuche. Versuchen Sie es in 2 Minuten", None),
    "server_error": (lambda: RuntimeError("boom"), 500, "Bei uns ist etwas schiefgegangen.", None),
    "store_down": (lambda: StoreUnavailable("redis down"), 503, "vorübergehend nicht erreichbar", None),
    "database_down": (_database_down, 503, "vorübergehend nicht erreichbar", None),
    "other_http_error": (Gone, 410, "Ihr Browser hat eine Anfrage gesendet", WERKZEUG_GONE),
    "refused_description": (
        _authlib_quoting_the_request,
        400,
        "Die Anwendung hat eine unvollständige oder ungültige Anfrage gesendet.",
        errors.GENERIC["invalid_request"],
    ),
}


@pytest.mark.parametrize("case", REGISTRY_PAGES)
def test_the_error_registrys_pages_are_german(http, provider, monkeypatch, case):
    """Whatever a page's view ends in (the throttle, a crash, a dependency down, another HTTP error),
    the registry's page says it in German; werkzeug's and Authlib's English never show."""
    make, status, german, english = REGISTRY_PAGES[case]

    def view():
        error = make()
        raise error

    monkeypatch.setitem(provider.app.view_functions, "web.home", view)
    response = http.get("/", headers=GERMAN)
    page = _german(response, status)
    assert german in visible_text(page)
    if english is not None:
        assert english not in html.unescape(page)
    if status in (429, 503):
        assert response.headers["Retry-After"]


def test_the_405_page_is_german(http):
    response = http.put("/login", headers=GERMAN)
    assert "Diese Seite lässt sich so nicht öffnen" in visible_text(_german(response, 405))
    assert "GET" in response.headers["Allow"]


def test_a_404_page_in_german_and_json_for_api_clients(http):
    assert "Diese Seite gibt es nicht." in visible_text(_german(http.get("/no-such-page", headers=GERMAN), 404))
    api = http.get("/no-such-page", headers={"Accept-Language": "de", "Accept": "application/json"})
    assert api.status_code == 404 and api.json["error"] == "not_found"


# -- sign-out refusals (idp/http/web/views.py logout) ------------------------------------------------


def _id_token(provider, *, aud, iss=None):
    from joserfc import jwt

    from idp.http.context import deps

    with provider.app.app_context():
        key, now = deps().keystore.signing_key("RS256"), int(deps().now())
        claims = {"iss": iss or provider.url, "aud": [aud], "sub": "someone", "iat": now, "exp": now + 600}
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key.key)


LOGOUT_REFUSALS = {
    "garbled_hint": ("Abmeldeanfrage gesendet, die wir nicht prüfen können", "Invalid 'id_token_hint'."),
    "hint_of_another_provider": (
        "Anmeldung bei einem anderen Anbieter",
        "The 'id_token_hint' was not issued by this provider.",
    ),
    "hint_for_another_client": ("nennt zwei verschiedene Anwendungen", "'client_id' does not match 'aud' claim"),
}


@pytest.mark.parametrize("case", LOGOUT_REFUSALS)
def test_a_refused_sign_out_is_german_and_says_the_user_is_still_signed_in(http, provider, case):
    german, detail = LOGOUT_REFUSALS[case]
    client, other = provider.create_client(), provider.create_client()
    params = {
        "garbled_hint": {"id_token_hint": "not.a.token"},
        "hint_of_another_provider": {
            "id_token_hint": _id_token(provider, aud=client.client_id, iss="https://x.example")
        },
        "hint_for_another_client": {
            "id_token_hint": _id_token(provider, aud=client.client_id),
            "client_id": other.client_id,
        },
    }[case]
    signed_in = _sign_in(http, provider)
    assert signed_in.status_code in (302, 303)
    page = _german(http.get("/logout", query_string=params, headers=GERMAN), 400)
    assert german in visible_text(page) and "nicht abgemeldet" in visible_text(page)
    assert [html.unescape(t) for t in re.findall(r'<span lang="en">(.*?)</span>', page)] == [detail]
    assert detail not in visible_text(page)
    assert http.get("/account", headers=GERMAN).status_code == 200  # still signed in, as the page says


def test_sign_out_with_an_unregistered_post_logout_redirect_uri_is_german(http, provider):
    """An unknown post_logout_redirect_uri is not an error (no redirect, RP-Initiated Logout §3):
    the confirmation page and then the signed-out page, both in German."""
    client = provider.create_client()
    _sign_in(http, provider)
    params = {"client_id": client.client_id, "post_logout_redirect_uri": "https://elsewhere.example/bye"}
    confirm = _german(http.get("/logout", query_string=params, headers=GERMAN))
    assert "Abmelden?" in confirm
    form = parse_form(confirm)
    form["confirm"] = "yes"
    done = http.post(form.pop("_action"), data=form, headers=GERMAN)
    assert "Sie sind abgemeldet" in _german(done)
    assert "elsewhere.example" not in done.headers.get("Location", "")


# -- sign-ins that cannot be continued (idp/http/protocol/interactions.py PROBLEMS) ------------------


def _pending_sign_in(provider):
    """An interaction started by another browser; its id."""
    client = provider.create_client(trusted=False)
    other = provider.app.test_client()
    started = other.get(
        "/authorize",
        query_string={
            "client_id": client.client_id,
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuz_AT-Bsa0",
            "code_challenge_method": "S256",
            "ui_locales": "de",
        },
    )
    assert started.status_code in (302, 303), started.text[:300]
    return re.search(r"interaction=([^&]+)", started.headers["Location"]).group(1)


OTHER_BROWSER = "in einem anderen Browser begonnen"
EXPIRED = "Ihre Anmeldung hat zu lange gedauert"


@pytest.mark.parametrize("path", ["/consent", "/authorize/resume", "/login"])
def test_a_sign_in_from_another_browser_is_german(http, provider, path):
    interaction = _pending_sign_in(provider)
    response = http.get(path, query_string={"interaction": interaction}, headers=GERMAN, follow_redirects=True)
    page = _german(response, 400)
    assert OTHER_BROWSER in visible_text(page)


@pytest.mark.parametrize("path", ["/consent", "/authorize/resume", "/login"])
def test_an_expired_sign_in_is_german(http, path):
    page = _german(http.get(path, query_string={"interaction": "gone"}, headers=GERMAN), 400)
    assert EXPIRED in visible_text(page)


def test_a_consent_form_without_its_cookie_is_german(http):
    page = _german(http.post("/consent", data={"interaction": "gone", "decision": "allow"}, headers=GERMAN), 400)
    assert "Cookie" in visible_text(page)

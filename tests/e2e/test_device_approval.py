"""The owner on a new device during a sustained attack: the throttled sign-in page offers an e-mailed,
single-use device-approval link; completing it makes the browser a known device (its own
allowance, which the attacker's guesses never spend), so the owner gets in with the password while
argon2 work stays bounded. End to end through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import re
import threading

import pytest

from idp.core.errors import TooManyAttempts
from idp.core.settings import Settings, SettingsError
from idp.storage.throttle.unlimited import UnlimitedThrottle
from tests.e2e.test_login_throttle import TOO_MANY, CountingHasher, attempt
from tests.support.helpers import PASSWORD, query, stored_user, update_user
from tests.support.mailserver import html_of, link_in, text_of

ADA = "ada@example.edu"
BUTTON = "E-mail me a link to approve this device"
ATTACKER = "203.0.113.{}"
OWNER_IP = "198.51.100.7"


def form_of(html: str, action: str) -> dict:
    """The hidden fields of the form posting to ``action`` (the throttled page has two forms)."""
    match = re.search(r'<form method="post" action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html, re.S)
    assert match, f"no form posting to {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(1)))


def ask_for_link(browser, throttled_page, **kw):
    """Press the button on the throttled page."""
    assert BUTTON in throttled_page.text
    return browser.post("/login/device/link", data=form_of(throttled_page.text, "/login/device/link"), **kw)


def approve(browser, link, **kw):
    """Open the mailed link, then press "Approve this device"."""
    page = browser.get(link, **kw)
    assert page.status_code == 200, page.text[:300]
    return browser.post("/login/device", data=form_of(page.text, "/login/device"), **kw)


def device_link_in(message) -> str:
    return link_in(message, "/login/device")


def guess(provider, i: int):
    """One wrong-password attempt from the attacker's i-th address (a fresh browser each time)."""
    return attempt(provider, ip=ATTACKER.format(i % 50))


def drain(provider):
    provider.app.extensions["idp"].postman.wait_idle()


@pytest.fixture
def hasher():
    return CountingHasher()


@pytest.fixture
def site(mail_provider, hasher):
    provider = mail_provider(hasher=hasher, trusted_proxies=("127.0.0.1/32",))
    provider.create_user()
    return provider


def throttled_owner(provider):
    """The attacker has spent the account's free failures; the owner, on a new browser, is told to wait."""
    for i in range(5):
        assert guess(provider, i).status_code == 401
    owner = provider.browser()
    page = attempt(provider, password=PASSWORD, browser=owner, ip=OWNER_IP)
    assert page.status_code == 429 and BUTTON in page.text
    return owner, page


def test_an_attacker_starves_a_new_device_and_the_link_lets_the_owner_in(site, smtp_server, clock, hasher):
    provider = site
    for i in range(5):
        assert guess(provider, i).status_code == 401
    owner = provider.browser()
    # The attacker guesses the moment each wait ends; the owner's new device always comes second.
    rounds, waited = 8, 0
    for n in range(rounds):
        wait = min(900, 30 * 2**n)
        clock.advance(wait)
        waited += wait
        assert guess(provider, 5 + n).status_code == 401
        refused = attempt(provider, password=PASSWORD, browser=owner, ip=OWNER_IP)
        assert refused.status_code == 429, "the right password from a new device got in during the attack"
    assert hasher.verifications == 5 + rounds  # one verification per expired wait, none for the owner
    assert waited > 3600  # over an hour kept out

    sent = ask_for_link(owner, refused, headers={"X-Forwarded-For": OWNER_IP})
    assert sent.status_code == 200 and "Check your e-mail" in sent.text
    done = approve(owner, device_link_in(smtp_server.wait_for(ADA)[0]), headers={"X-Forwarded-For": OWNER_IP})
    assert done.status_code == 303 and done.headers["Location"] == "/login/device/approved"
    form_page = owner.get(done.headers["Location"])
    assert "This device is approved. Sign in with your password." in form_page.text
    assert 'value="S1000001"' in form_page.text  # the username is filled in

    assert guess(provider, 99).status_code == 429  # the attack goes on, still refused before argon2
    signed_in = owner.submit_login(form_page, "S1000001", PASSWORD)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert hasher.verifications == 5 + rounds + 1  # the owner's one verification: nothing else was hashed
    [success] = provider.audit_events("login.success")
    assert success.details["device"] is True

    # The attacker's next guess after the next wait does not lock the approved device out either.
    clock.advance(900)
    assert guess(provider, 100).status_code == 401
    again = attempt(provider, password=PASSWORD, browser=owner, ip=OWNER_IP)
    assert again.status_code == 302


def owner_at_a_locked_sign_in(provider):
    """An app's sign-in started by the owner on a new device while the account waits out guesses."""
    rp = provider.create_client()
    for i in range(5):
        guess(provider, i)
    owner = provider.browser()
    return rp, owner, owner.follow(owner.get(rp.authorization_url()))


def test_the_sign_in_continues_to_the_app_after_approval(site, smtp_server):
    provider = site
    rp, owner, login_page = owner_at_a_locked_sign_in(provider)
    interaction = query(login_page.url)["interaction"]
    throttled = owner.submit_login(login_page)
    assert throttled.status_code == 429
    assert form_of(throttled.text, "/login/device/link")["interaction"] == interaction
    ask_for_link(owner, throttled)
    done = approve(owner, device_link_in(smtp_server.wait_for(ADA)[0]))
    assert query(done.headers["Location"])["interaction"] == interaction  # (and its way back, app_return)
    form_page = owner.get(done.headers["Location"])
    assert form_of(form_page.text, "/login")["interaction"] == interaction
    callback = owner.follow(owner.submit_login(form_page))
    assert callback.headers["Location"].startswith(rp.redirect_uri)
    assert rp.exchange(callback.headers["Location"])["id_token"]


def test_the_mail_and_what_is_audited(site, smtp_server):
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page, headers={"X-Forwarded-For": OWNER_IP})
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Approve a new device for SPOM Login"
    link = device_link_in(mail)
    assert link.startswith(provider.url + "/login/device?token=") and len(query(link)["token"]) >= 43
    assert link.replace("&", "&amp;") in html_of(mail) and "Approve this device" in html_of(mail)
    assert "The link works once and for 15 minutes. It does not sign you in" in text_of(mail)
    drain(provider)
    user_id = stored_user(provider).id
    [requested] = provider.audit_events("device.approval_requested")
    assert (requested.user_id, requested.details, requested.ip) == (user_id, {"outcome": "issued"}, OWNER_IP)
    [sent] = provider.audit_events("device.approval_sent")
    assert (sent.user_id, sent.details) == (user_id, {"delivered": True})

    approve(owner, link, headers={"X-Forwarded-For": OWNER_IP})
    [approved] = provider.audit_events("device.approved")
    assert (approved.user_id, approved.details, approved.ip) == (user_id, {"new_device": True}, OWNER_IP)
    assert provider.audit_events("device.approval_refused") == []


def test_opening_the_link_changes_nothing_until_confirmed(site, smtp_server):
    """A mail scanner that fetches every link neither uses it up nor becomes a known device."""
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    scanner = provider.browser()
    for _ in range(3):
        opened = scanner.get(link)
        assert opened.status_code == 200 and "Approve this device" in opened.text
        assert "idp_device" not in opened.headers.get("Set-Cookie", "")
    assert approve(owner, link).status_code == 303


def test_completing_it_signs_nobody_in(site, smtp_server):
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    done = approve(owner, device_link_in(smtp_server.wait_for(ADA)[0]))
    assert "idp_device" in done.headers["Set-Cookie"] and "idp_session" not in done.headers["Set-Cookie"]
    assert owner.get("/account").status_code == 302  # to the sign-in page
    assert "Signed in" not in owner.get("/").text
    wrong = attempt(provider, browser=owner, ip=OWNER_IP)  # the password is still verified
    assert wrong.status_code == 401 and "Invalid credentials." in wrong.text


def test_a_link_works_once(site, smtp_server):
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    confirm = form_of(owner.get(link).text, "/login/device")
    assert owner.post("/login/device", data=confirm).status_code == 303
    other = provider.browser()
    again = other.get(link)
    assert again.status_code == 410 and "This link has already been used. Each link works only once." in again.text
    # Posting the confirmation again (a second tab) makes no other browser a known device.
    second = owner.post("/login/device", data=confirm)
    assert second.status_code == 410 and "already been used" in second.text
    assert "idp_device" not in second.headers.get("Set-Cookie", "")
    reasons = [(e.details["reason"], e.details["step"]) for e in provider.audit_events("device.approval_refused")]
    assert reasons == [("used", "confirm"), ("used", "open")]  # newest first


def test_an_expired_link_says_so(site, smtp_server, clock):
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    confirm = form_of(owner.get(link).text, "/login/device")
    clock.advance(15 * 60)
    expired = owner.post("/login/device", data=confirm)
    assert expired.status_code == 410
    assert "This link has expired. Device approval links work for 15 minutes." in expired.text
    assert 'href="/login"' in expired.text and "idp_device" not in expired.headers.get("Set-Cookie", "")
    [refused] = provider.audit_events("device.approval_refused")
    assert refused.details == {"reason": "expired", "step": "confirm"}


def test_a_newer_link_supersedes_the_older_one_but_not_a_reset_link(site, smtp_server):
    from tests.e2e.test_password_reset import request_reset

    provider = site
    request_reset(provider.browser())
    reset_link = link_in(smtp_server.wait_for(ADA)[0])
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    first = device_link_in(smtp_server.wait_for(ADA, count=2)[1])
    ask_for_link(owner, page)
    second = device_link_in(smtp_server.wait_for(ADA, count=3)[2])
    superseded = owner.get(first)
    assert superseded.status_code == 410 and "A newer link has been requested" in superseded.text
    assert approve(owner, second).status_code == 303
    # Someone else can ask for device links for any account: that must not void the owner's reset link.
    assert provider.browser().get(reset_link).status_code == 200


def test_a_device_link_cannot_reset_a_password_nor_a_reset_link_approve_a_device(site, smtp_server):
    from tests.e2e.test_password_reset import request_reset

    provider = site
    request_reset(provider.browser())
    reset_token = query(link_in(smtp_server.wait_for(ADA)[0]))["token"]
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    device_token = query(device_link_in(smtp_server.wait_for(ADA, count=2)[1]))["token"]
    assert provider.browser().get(f"/password/reset?token={device_token}").status_code == 400
    wrong_page = provider.browser().get(f"/login/device?token={reset_token}")
    assert wrong_page.status_code == 400 and "This link is not valid" in wrong_page.text


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 500])
def test_unknown_or_mangled_tokens_are_refused(site, token):
    page = site.browser().get(f"/login/device?token={token}")
    assert page.status_code == 400 and "This link is not valid" in page.text
    [refused] = site.audit_events("device.approval_refused")
    assert (refused.user_id, refused.details) == (None, {"reason": "unknown", "step": "open"})


def test_same_answer_and_no_mail_for_unknown_disabled_and_mailless_accounts(site, smtp_server):
    provider = site
    provider.create_user("S2000002", email="bob@example.edu", name="Bob", active=False)
    provider.create_user("S3000003", email=None, name="Cy")
    answers = []
    for login in ("S1000001", "nobody@example.edu", "S2000002", "S3000003"):
        browser = provider.browser()
        page = browser.get("/login")
        answers.append(browser.post("/login/device/link", data={**form_of(page.text, "/login"), "username": login}))
    assert {a.status_code for a in answers} == {200}
    assert len({re.sub(r'name="csrf_token" value="[^"]*"', "", a.text) for a in answers}) == 1
    drain(provider)
    assert [m["To"] for m in smtp_server.messages] == [ADA]
    reasons = sorted(e.details.get("reason", "issued") for e in provider.audit_events("device.approval_requested"))
    assert reasons == ["disabled", "issued", "no_email", "unknown_user"]


def test_the_page_answers_before_the_account_is_even_looked_up(site, smtp_server):
    provider = site
    gate = threading.Event()
    provider.app.extensions["idp"].postman.run_later(gate.wait)  # hold the mail thread
    try:
        for login in ("S1000001", "nobody"):
            browser = provider.browser()
            page = browser.get("/login")
            sent = browser.post("/login/device/link", data={**form_of(page.text, "/login"), "username": login})
            assert "Check your e-mail" in sent.text
        assert provider.audit_events("device.approval_requested") == []
    finally:
        gate.set()
    assert smtp_server.wait_for(ADA)


def test_a_link_of_a_user_disabled_since_is_refused(site, smtp_server):
    provider = site
    owner, page = throttled_owner(provider)
    ask_for_link(owner, page)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    update_user(provider, active=False)
    refused = owner.get(link)
    assert refused.status_code == 400 and "This link is not valid" in refused.text


def test_forms_need_csrf(site, smtp_server):
    provider = site
    owner, page = throttled_owner(provider)
    fields = form_of(page.text, "/login/device/link")
    forged = provider.browser().post("/login/device/link", data={**fields, "csrf_token": "forged"})
    assert forged.status_code == 400
    ask_for_link(owner, page)
    link = device_link_in(smtp_server.wait_for(ADA)[0])
    confirm = form_of(owner.get(link).text, "/login/device")
    stale = owner.post("/login/device", data={**confirm, "csrf_token": "stale"})
    assert stale.status_code == 400 and "This page was open too long" in stale.text
    assert "Approve this device" in stale.text and "idp_device" not in stale.headers.get("Set-Cookie", "")
    # Another site cannot make the victim's browser use the link: it has no CSRF cookie to match.
    assert provider.browser().post("/login/device", data=confirm).status_code == 400
    assert approve(owner, link).status_code == 303  # the link was not used up by either
    drain(provider)
    assert len(smtp_server.messages) == 1  # the forged request sent nothing


def test_requests_are_limited_per_ip(mail_provider, smtp_server):
    provider = mail_provider(rate_device_link_ip_limit=2, trusted_proxies=("127.0.0.1/32",))
    provider.create_user()
    owner, page = throttled_owner(provider)
    header = {"X-Forwarded-For": OWNER_IP}
    assert [ask_for_link(owner, page, headers=header).status_code for _ in range(2)] == [200, 200]
    refused = ask_for_link(owner, page, headers=header)
    assert refused.status_code == 429 and TOO_MANY.replace("1 minute", "30 minutes") in refused.text
    assert refused.headers["Retry-After"] == "1800"
    assert ask_for_link(owner, page, headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_mail_per_account_is_limited_but_the_newest_link_still_works(mail_provider, smtp_server, clock):
    """Many addresses asking for links to one account get at most LIMIT mails per period; a refused
    request never leaves the owner without a working link (IDP_DEVICE_LINK_SECONDS >= SECONDS/LIMIT)."""
    provider = mail_provider(
        rate_device_link_account_limit=2, rate_device_link_account_seconds=1800, trusted_proxies=("127.0.0.1/32",)
    )
    provider.create_user()
    owner, _page = throttled_owner(provider)
    for i, login in enumerate(("S1000001", "ADA@example.edu", "s1000001")):  # one account, one limit
        browser = provider.browser()
        form = browser.get("/login")
        sent = browser.post(
            "/login/device/link",
            data={**form_of(form.text, "/login"), "username": login},
            headers={"X-Forwarded-For": ATTACKER.format(i)},
        )
        assert sent.status_code == 200 and "Check your e-mail" in sent.text
    drain(provider)
    assert len(smtp_server.messages) == 2
    reasons = [e.details.get("reason") for e in provider.audit_events("device.approval_requested")]
    assert sorted(reasons, key=str) == [None, None, "rate_limited"]
    clock.advance(899)  # the newest link is still good while the limit refuses
    assert approve(owner, device_link_in(smtp_server.messages[-1])).status_code == 303


class RecordingThrottle(UnlimitedThrottle):
    def __init__(self):
        self.calls = []

    def check_rate(self, name, key):
        self.calls.append((name, key))
        if name == "device_link_account":
            raise TooManyAttempts(60)


def test_the_account_limit_uses_the_throttles_account_key(mail_provider, smtp_server):
    throttle = RecordingThrottle()
    provider = mail_provider(throttle=throttle)
    provider.create_user()
    for login in ("ada@example.edu", "Nobody"):
        browser = provider.browser()
        page = browser.get("/login")
        browser.post("/login/device/link", data={**form_of(page.text, "/login"), "username": login})
    drain(provider)
    user_id = stored_user(provider).id
    assert ("device_link_ip", "127.0.0.1") in throttle.calls
    assert [c for c in throttle.calls if c[0] == "device_link_account"] == [
        ("device_link_account", f"user:{user_id}"),
        ("device_link_account", "login:nobody"),
    ]
    assert smtp_server.messages == []


def test_the_link_is_offered_only_while_the_account_delay_is_the_reason(make_provider):
    provider = make_provider(trusted_proxies=("127.0.0.1/32",), rate_login_ip_limit=2, rate_login_ip_seconds=60)
    provider.create_user()
    for _ in range(2):
        attempt(provider, ip=OWNER_IP)
    ip_limited = attempt(provider, ip=OWNER_IP)
    assert ip_limited.status_code == 429 and BUTTON not in ip_limited.text  # a link would not help here


def test_german_mail_and_pages(site, smtp_server):
    provider = site
    de = {"Accept-Language": "de-DE,de;q=0.9"}
    for i in range(5):
        guess(provider, i)
    owner = provider.browser()
    owner.http.headers.update(de)
    page = owner.submit_login(owner.get("/login"), password=PASSWORD)
    assert page.status_code == 429 and "Link zum Freigeben dieses Geräts per E-Mail senden" in page.text
    sent = owner.post("/login/device/link", data=form_of(page.text, "/login/device/link"))
    assert "Prüfen Sie Ihr E-Mail-Postfach" in sent.text and "Der Link gilt 15 Minuten" in sent.text
    [mail] = smtp_server.wait_for(ADA)
    assert mail["Subject"] == "Ein neues Gerät für SPOM Login freigeben"
    assert "Der Link gilt 15 Minuten und nur einmal. Er meldet Sie nicht an" in text_of(mail)
    assert "Dieses Gerät freigeben" in html_of(mail)
    done = approve(owner, device_link_in(mail))
    approved = owner.get(done.headers["Location"])
    assert "Dieses Gerät ist freigegeben. Melden Sie sich mit Ihrem Passwort an." in approved.text


def test_an_already_known_device_keeps_its_counters(site, smtp_server):
    provider = site
    owner = provider.browser()
    assert attempt(provider, password=PASSWORD, browser=owner, ip=OWNER_IP).status_code == 302
    cookie = owner.http.cookies.get("idp_device")
    for _ in range(10):  # the owner mistypes on the known device until its own delay starts
        attempt(provider, browser=owner, ip=OWNER_IP)
    page = attempt(provider, password=PASSWORD, browser=owner, ip=OWNER_IP)
    assert page.status_code == 429 and BUTTON not in page.text  # a link would not reset its own delay
    fresh = provider.browser()
    fresh.http.cookies.set("idp_device", cookie, domain="127.0.0.1", path="/")
    form = fresh.get("/login")
    fresh.post("/login/device/link", data={**form_of(form.text, "/login"), "username": "S1000001"})
    approve(fresh, device_link_in(smtp_server.wait_for(ADA)[0]))
    [approved] = provider.audit_events("device.approved")
    assert approved.details == {"new_device": False}
    assert attempt(provider, password=PASSWORD, browser=fresh, ip=OWNER_IP).status_code == 429


def test_a_link_lifetime_shorter_than_the_account_limits_refill_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="IDP_DEVICE_LINK_SECONDS: must be at least"):
        Settings.from_env(
            {},
            instance_dir=str(tmp_path),
            secret_key="s" * 40,
            device_link_seconds=600,
            rate_device_link_account_limit=5,
            rate_device_link_account_seconds=3600,
        )


def test_switching_the_language_on_the_check_your_mail_page_is_not_a_dead_end(site, smtp_server):
    """ "Check your e-mail" answers the link request (a POST) and has no address of its own; the
    language switch there leads to the sign-in page in that language, still on the way to the app."""
    import html

    _rp, owner, login_page = owner_at_a_locked_sign_in(site)
    sent = ask_for_link(owner, owner.submit_login(login_page))
    assert sent.status_code == 200
    switch = re.search(r'<a href="(/language\?[^"]*)" lang="de"', sent.text)
    assert switch
    german = owner.follow(owner.get(html.unescape(switch.group(1))))
    assert german.status_code == 200, german.status_code
    assert (
        'lang="de"' in german.text
        and form_of(german.text, "/login")["interaction"] == query(login_page.url)["interaction"]
    )

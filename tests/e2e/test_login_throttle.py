"""End-to-end: the sign-in page under attack. The throttle decides before argon2 runs, says the
same thing for real and unknown accounts, holds against parallel bursts (also across two
providers on one Redis), lets the owner in from a known device, fails closed when Redis is gone
while refresh, JWKS, discovery and single sign-on keep working, and recovers by itself."""

from __future__ import annotations

import logging
import re
import threading

import pytest
import requests

from tests.support.constants import FAST_HASHER, REDIS_URL
from tests.support.helpers import PASSWORD, issue_tokens
from tests.support.tcp_proxy import TcpProxy

WRONG = "not the password"
TOO_MANY = "Too many attempts. Try again in 1 minute."


class CountingHasher:
    """The test hasher, counting password verifications (each one is argon2 work)."""

    def __init__(self):
        self.verifications = 0
        self._lock = threading.Lock()

    def verify(self, stored_hash, password):
        with self._lock:
            self.verifications += 1
        return FAST_HASHER.verify(stored_hash, password)

    def __getattr__(self, name):
        return getattr(FAST_HASHER, name)


@pytest.fixture
def hasher():
    return CountingHasher()


@pytest.fixture
def provider(make_provider, hasher):
    provider = make_provider(hasher=hasher)
    provider.create_user()
    return provider


def attempt(provider, username="S1000001", password=WRONG, browser=None, ip=None):
    browser = browser or provider.browser()
    page = browser.get("/login")
    return (
        browser.submit_login(page, username, password)
        if ip is None
        else _post_from(browser, page, username, password, ip)
    )


def _post_from(browser, page, username, password, ip):
    from tests.support.helpers import parse_form

    form = parse_form(page.text)
    form.update(username=username, password=password)
    return browser.post(form.pop("_action"), data=form, headers={"X-Forwarded-For": ip})


def page_text(response) -> str:
    """The page as the user reads it: without the per-request CSRF token and the typed username."""
    text = re.sub(r'name="csrf_token" value="[^"]*"', "", response.text)
    return re.sub(r'name="username"([^>]*?)value="[^"]*"', r'name="username"\1', text)


def test_unknown_and_existing_accounts_look_the_same_when_throttled(provider, hasher):
    seen = {}
    for login in ("S1000001", "S9999999"):
        before = hasher.verifications
        statuses = [attempt(provider, login).status_code for _ in range(5)]
        throttled = attempt(provider, login)
        seen[login] = (
            statuses,
            throttled.status_code,
            throttled.headers.get("Retry-After"),
            page_text(throttled),
            hasher.verifications - before,
        )
        assert TOO_MANY in throttled.text
    assert seen["S1000001"] == seen["S9999999"]
    assert seen["S1000001"][:3] == ([401] * 5, 429, "30")
    assert seen["S1000001"][4] == 5  # unknown users cost the same (dummy) argon2 verifications


def test_throttle_decides_before_any_hashing(provider, hasher):
    statuses = [attempt(provider).status_code for _ in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    assert hasher.verifications == 5


def test_wait_is_released_by_the_clock_and_doubles(provider, clock):
    for _ in range(5):
        attempt(provider)
    assert attempt(provider, password=PASSWORD).status_code == 429  # even the right password waits
    clock.advance(30)
    assert attempt(provider).status_code == 401
    third = attempt(provider)
    assert third.status_code == 429 and third.headers["Retry-After"] == "60" and TOO_MANY in third.text
    clock.advance(60)
    assert attempt(provider, password=PASSWORD).status_code == 302
    assert attempt(provider).status_code == 401  # a success forgets the failures


def test_registration_number_and_email_share_one_allowance(provider):
    for login in ("S1000001", "ada@example.edu", "s1000001", "ADA@example.edu", "S1000001"):
        assert attempt(provider, login).status_code == 401
    assert attempt(provider, "ada@example.edu").status_code == 429


def parallel_attempts(providers, n: int, **kw) -> list[int]:
    """``n`` browsers, their forms loaded, post a wrong password all at once."""
    prepared = []
    for i in range(n):
        browser = providers[i % len(providers)].browser()
        prepared.append((browser, browser.get("/login")))
    barrier, statuses = threading.Barrier(n), [None] * n

    def post(i):
        browser, page = prepared[i]
        barrier.wait()
        statuses[i] = browser.submit_login(page, "S1000001", WRONG).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_parallel_burst_cannot_slip_past_the_limit(provider, hasher):
    statuses = parallel_attempts([provider], 30)
    assert sorted(statuses) == [401] * 5 + [429] * 25
    assert hasher.verifications == 5


def test_two_providers_on_one_redis_enforce_one_limit(make_provider, redis_prefix, hasher):
    a = make_provider(redis_url=REDIS_URL, redis_prefix=redis_prefix, hasher=hasher)
    b = make_provider(redis_url=REDIS_URL, redis_prefix=redis_prefix, hasher=hasher)
    a.create_user()
    statuses = parallel_attempts([a, b], 30)
    assert sorted(statuses) == [401] * 5 + [429] * 25
    assert hasher.verifications == 5
    assert attempt(b).status_code == 429


def test_known_device_owner_signs_in_during_an_attack(make_provider, clock):
    provider = make_provider(trusted_proxies=("127.0.0.1/32",))
    provider.create_user()
    owner = provider.browser()
    assert attempt(provider, password=PASSWORD, browser=owner, ip="198.51.100.7").status_code == 302
    device_cookie = next(c for c in owner.http.cookies if c.name == "idp_device")
    assert device_cookie.has_nonstandard_attr("HttpOnly")

    attacks = [attempt(provider, ip=f"203.0.113.{i % 50}").status_code for i in range(60)]
    assert attacks.count(401) == 5 and attacks.count(429) == 55
    stranger = attempt(provider, password=PASSWORD, ip="198.51.100.7")
    assert stranger.status_code == 429  # the right password from an unknown browser still waits
    assert attempt(provider, password=PASSWORD, browser=owner, ip="198.51.100.7").status_code == 302


def test_device_cookie_of_another_account_gives_no_allowance(provider):
    provider.create_user(registration_number="S1000002", email="bob@example.edu")
    browser = provider.browser()
    assert attempt(provider, "S1000002", PASSWORD, browser=browser).status_code == 302
    for _ in range(5):
        attempt(provider)
    assert attempt(provider, password=PASSWORD, browser=browser).status_code == 429


@pytest.fixture
def redis_proxy():
    proxy = TcpProxy(("127.0.0.1", 6379))
    yield proxy
    proxy.close()


def test_redis_gone_fails_sign_in_closed_and_keeps_the_rest_working(make_provider, redis_proxy, redis_prefix, caplog):
    # store=None: the store is built from the settings too (Redis behind the same proxy, with its
    # database fallback), so the cut takes away the throttle's counters and the store's Redis alike.
    provider = make_provider(redis_url=redis_proxy.url, redis_prefix=redis_prefix, store=None)
    provider.create_user()
    browser = provider.browser()
    rp, tokens = issue_tokens(provider, browser)  # signed in through the throttle on Redis

    redis_proxy.cut()
    with caplog.at_level(logging.ERROR, logger="idp"):
        refused = attempt(provider, password=PASSWORD)
    assert refused.status_code == 503
    assert "Sign-in is temporarily unavailable" in refused.text
    assert any(
        "rate-limit counters unreachable" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )

    refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert requests.get(provider.url + "/jwks.json", timeout=5).status_code == 200
    assert requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).status_code == 200
    sso = rp.exchange(rp.sign_in(browser))  # already signed in: no password, no throttle
    assert "id_token" in sso

    redis_proxy.restore()  # Redis is back: sign-in resumes without a restart
    assert attempt(provider, password=PASSWORD).status_code == 302


def test_password_spraying_from_one_address_hits_the_ip_limit(make_provider, clock):
    provider = make_provider(trusted_proxies=("127.0.0.1/32",), rate_login_ip_limit=3, rate_login_ip_seconds=60)
    provider.create_user()
    sprayed = [attempt(provider, f"S20000{i:02d}", ip="2001:db8:7:7::1").status_code for i in range(3)]
    same_64 = attempt(provider, "S2000099", ip="2001:db8:7:7:ffff::2")
    assert sprayed == [401] * 3
    assert same_64.status_code == 429 and same_64.headers["Retry-After"] == "20" and TOO_MANY in same_64.text
    assert attempt(provider, "S2000099", ip="2001:db8:7:8::1").status_code == 401  # another /64
    clock.advance(20)
    assert attempt(provider, password=PASSWORD, ip="2001:db8:7:7::1").status_code == 302

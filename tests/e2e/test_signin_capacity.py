"""Sign-in at capacity (``idp.core.admission``): a bounded number of password verifications at once;
the next sign-in waits at most ``IDP_SIGNIN_MAX_WAIT_SECONDS`` and is then told to come back (503 with
``Retry-After``, its username kept, no attempt counted), while every other request keeps being served
during the verifications."""

from __future__ import annotations

import threading

import pytest
import requests

from idp.core.admission import AdmissionGate
from idp.core.errors import Busy
from idp.core.settings import Settings, SettingsError
from tests.support.constants import FAST_HASHER
from tests.support.helpers import PASSWORD, parse_form

BUSY_EN = "Many people are signing in right now. Please try again in a few seconds."
BUSY_DE = "Gerade melden sich sehr viele Personen an. Bitte versuchen Sie es in einigen Sekunden erneut."


class HeldHasher:
    """The test hasher, except that a verification waits until the test lets it finish."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def verify(self, stored_hash, password):
        self.entered.set()
        assert self.release.wait(10), "the test never released the verification"
        return FAST_HASHER.verify(stored_hash, password)

    def __getattr__(self, name):
        return getattr(FAST_HASHER, name)


@pytest.fixture
def held():
    hasher = HeldHasher()
    yield hasher
    hasher.release.set()


@pytest.fixture
def provider(make_provider, held):
    provider = make_provider(hasher=held, argon2_concurrency=1, signin_max_wait_seconds=0)
    provider.create_user()
    return provider


def _sign_in(browser, password=PASSWORD, username="S1000001", **headers):
    page = browser.get("/login", headers=headers)
    form = parse_form(page.text)
    form.update(username=username, password=password)
    return browser.post(form.pop("_action"), data=form, headers=headers)


def _first_sign_in_holding_the_slot(provider, held):
    result = {}
    first = threading.Thread(target=lambda: result.setdefault("response", _sign_in(provider.browser())))
    first.start()
    assert held.entered.wait(10)  # the first sign-in is inside its verification now
    return first, result


def test_a_sign_in_beyond_capacity_is_told_to_come_back_and_nothing_is_counted(provider, held):
    first, result = _first_sign_in_holding_the_slot(provider, held)
    second = provider.browser()
    refused = _sign_in(second, password="whatever they typed")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert BUSY_EN in refused.text
    assert 'value="S1000001"' in refused.text  # the form is back with the username kept
    held.release.set()
    first.join(10)
    assert result["response"].status_code in (302, 303)  # the first one signed in
    # Nothing was counted for the refused one: no failed sign-in in the audit trail, and it can go on.
    assert list(provider.audit_events("login.failure")) == []
    assert _sign_in(second).status_code in (302, 303)


def test_other_requests_are_served_while_the_verifications_run(provider, held):
    first, _result = _first_sign_in_holding_the_slot(provider, held)
    try:
        assert requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).status_code == 200
        assert requests.get(provider.url + "/login", timeout=5).status_code == 200
        assert requests.get(provider.url + "/readyz", timeout=5).status_code == 200
    finally:
        held.release.set()
        first.join(10)


def test_the_come_back_message_is_in_the_readers_language(provider, held):
    first, _result = _first_sign_in_holding_the_slot(provider, held)
    try:
        refused = _sign_in(provider.browser(), **{"Accept-Language": "de"})
        assert refused.status_code == 503 and BUSY_DE in refused.text
    finally:
        held.release.set()
        first.join(10)


def test_the_gate_admits_up_to_its_concurrency_and_then_refuses_with_the_wait():
    gate = AdmissionGate(concurrency=2, max_wait=0)
    with gate.admit(), gate.admit():
        with pytest.raises(Busy) as busy, gate.admit():
            pass
        assert busy.value.retry_after == 1
    with gate.admit():  # slots come back when a verification ends, also by an exception
        pass
    with pytest.raises(ValueError), gate.admit():
        raise ValueError
    with gate.admit(), gate.admit():
        pass


def test_no_gate_means_no_limit():
    gate = AdmissionGate(concurrency=0, max_wait=0)
    with gate.admit(), gate.admit(), gate.admit():
        pass


@pytest.mark.parametrize(
    ("name", "value"),
    [("IDP_ARGON2_CONCURRENCY", "-1"), ("IDP_ARGON2_CONCURRENCY", "1000"), ("IDP_SIGNIN_MAX_WAIT_SECONDS", "nan")],
)
def test_capacity_settings_out_of_range_are_refused_by_name(tmp_path, name, value):
    env = {"IDP_ISSUER": "http://127.0.0.1:8000", "IDP_SECRET_KEY": "s" * 40, "IDP_INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**env, name: value})


@pytest.fixture
def one_slot(make_provider, held):
    """One request at a time (IDP_THREADS=1) and no limit on the verifications themselves: only the
    worker's run queue (``idp.http.capacity``) can refuse a sign-in here."""
    provider = make_provider(
        hasher=held, threads=1, argon2_concurrency=0, signin_max_wait_seconds=0, metrics_networks="127.0.0.1/32"
    )
    provider.create_user()
    return provider


def test_a_sign_in_past_the_workers_capacity_is_told_to_come_back_while_other_requests_wait(one_slot, held):
    second = one_slot.browser()
    form = parse_form(second.get("/login").text)  # the page before the one slot is taken
    first, result = _first_sign_in_holding_the_slot(one_slot, held)
    waited = {}
    token_request = threading.Thread(
        target=lambda: waited.setdefault("page", requests.get(one_slot.url + "/login", timeout=10).status_code)
    )
    token_request.start()
    queue = one_slot.app.extensions["idp.run_queue"]
    for _ in range(1000):  # until that request waits for the slot
        if queue.waiting:
            break
        token_request.join(0.005)
    try:
        form.update(username="S1000001", password=PASSWORD)
        refused = second.post(form.pop("_action"), data=form)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert BUSY_EN in refused.text and 'value="S1000001"' in refused.text
        # Discovery and the probes never wait (answered in front of the run queue); other requests wait their turn.
        assert requests.get(one_slot.url + "/.well-known/openid-configuration", timeout=5).status_code == 200
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert requests.get(one_slot.url + probe, timeout=5).status_code == 200, probe
        assert token_request.is_alive() and "page" not in waited and queue.waiting == 1
    finally:
        held.release.set()
        first.join(10)
        token_request.join(10)
    assert result["response"].status_code in (302, 303)
    assert waited == {"page": 200}  # served once the slot came back
    assert list(one_slot.audit_events("login.failure")) == []  # nothing counted for the refused one
    assert _sign_in(second).status_code in (302, 303)

"""The admin API's second-factor endpoints (issue 19): a user's factors, the help desk's reset, and the
per-role policy; the same idp:admin token and RFC 9457 problems as the other user endpoints."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.test_admin_api import PROBLEM, admin  # noqa: F401  (a fixture)
from tests.support.factors import enrol_totp_for as enrol_totp
from tests.support.helpers import stored_user, update_user
from tests.support.mailserver import text_of


def sub_of(provider, login="S1000001") -> str:
    return stored_user(provider, login).sub


def test_factors_then_reset_then_none(provider, admin):
    provider.create_user()
    secret, codes = enrol_totp(provider, name="Phone")
    sub = sub_of(provider)

    listed = admin("GET", f"/users/{sub}/factors")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    [factor] = body["factors"]
    assert body["recovery_codes_left"] == 10
    assert factor["kind"] == "totp" and factor["name"] == "Phone" and factor["created_at"].endswith("Z")
    assert secret not in listed.text and not any(code in listed.text for code in codes)

    reset = admin("POST", f"/users/{sub}/reset-mfa", json={"reason": "Ticket 99: phone stolen"})
    assert reset.status_code == 200, reset.text
    assert reset.json() == {"factors_removed": 1}
    assert admin("GET", f"/users/{sub}/factors").json() == {"factors": [], "recovery_codes_left": 0}
    assert stored_user(provider).mfa_enrol_required
    [event] = provider.audit_events("mfa.reset")
    assert event.details["source"].startswith("admin:") and event.details["reason"] == "Ticket 99: phone stolen"
    assert event.details["factors_removed"] == 1 and event.ip == "127.0.0.1"


def test_a_reset_through_the_api_mails_the_user(mail_provider, smtp_server):
    from tests.support.registration_helpers import admin_token

    provider = mail_provider()
    provider.create_user()
    update_user(provider, locale="de")
    enrol_totp(provider)
    response = requests.post(
        f"{provider.url}/admin/api/users/{sub_of(provider)}/reset-mfa",
        json={"reason": "Ticket 7"},
        headers={"Authorization": f"Bearer {admin_token(provider)}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    [mail] = smtp_server.wait_for("ada@example.edu")
    assert mail["Subject"] == "Der zweite Anmeldeschritt Ihres SPOM-Login-Kontos wurde zurückgesetzt"
    assert "Angegebener Grund: Ticket 7" in text_of(mail)


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": 42}])
def test_a_reset_needs_a_reason(provider, admin, body):
    provider.create_user()
    enrol_totp(provider)
    refused = admin("POST", f"/users/{sub_of(provider)}/reset-mfa", json=body)
    assert refused.status_code == 400 and refused.headers["Content-Type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == "urn:spom-login:problem:reason_required" and problem["field"] == "reason"
    assert "reason" in problem["detail"]
    assert len(admin("GET", f"/users/{sub_of(provider)}/factors").json()["factors"]) == 1  # nothing removed
    assert provider.audit_events("mfa.reset") == []


def test_reset_refusals(provider, admin):
    provider.create_user()
    sub = sub_of(provider)
    too_long = admin("POST", f"/users/{sub}/reset-mfa", json={"reason": "x" * 501})
    assert too_long.status_code == 400 and too_long.json()["type"].endswith("invalid_parameter")
    assert admin("POST", f"/users/{sub}/reset-mfa", data="reason=x").status_code == 415
    for method, path in (("GET", "/users/nobody/factors"), ("POST", "/users/nobody/reset-mfa")):
        missing = admin(method, path, json={"reason": "lost"})
        assert missing.status_code == 404 and missing.json()["type"].endswith("user_not_found")


def test_the_endpoints_need_the_admin_token(provider):
    provider.create_user()
    sub = sub_of(provider)
    for method, path in (("GET", f"/users/{sub}/factors"), ("POST", f"/users/{sub}/reset-mfa"), ("GET", "/mfa-policy")):
        response = requests.request(method, f"{provider.url}/admin/api{path}", json={"reason": "x"}, timeout=5)
        assert response.status_code == 401 and response.headers["Content-Type"] == PROBLEM
    assert provider.audit_events("mfa.reset") == []


def test_mfa_policy_per_role(make_provider):
    from tests.support.registration_helpers import admin_token

    provider = make_provider(mfa_required_roles="employee,vendor", mfa_grace_signins=3)
    provider.create_user()
    provider.create_user("E1000001", "eve@example.edu", "Eve", role="employee")
    provider.create_user("E1000002", "emil@example.edu", "Emil", role="employee")
    enrol_totp(provider, "E1000001")
    enrol_totp(provider, "S1000001")  # a student who enrolled anyway: counted as enrolled
    response = requests.get(
        f"{provider.url}/admin/api/mfa-policy", headers={"Authorization": f"Bearer {admin_token(provider)}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["required_roles"] == ["employee", "vendor"] and body["grace_signins"] == 3
    assert body["grace_days"] == 14
    assert body["roles"] == [
        {
            "role": "student",
            "required": False,
            "users": 1,
            "enrolled": 1,
            "in_grace": 0,
            "forced": 0,
            "not_required": 0,
        },
        {
            "role": "employee",
            "required": True,
            "users": 2,
            "enrolled": 1,
            "in_grace": 1,
            "forced": 0,
            "not_required": 0,
        },
        {"role": "vendor", "required": True, "users": 0, "enrolled": 0, "in_grace": 0, "forced": 0, "not_required": 0},
    ]

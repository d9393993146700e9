"""Recovery codes: ten single-use codes a user keeps on paper for the day the phone is lost.

Each has 50 random bits from an alphabet without look-alikes (no 0/o, 1/l/i), shown as two groups
of five; only a keyed hash (HMAC-SHA-256 with ``IDP_SECRET_KEY``) is stored. 50 bits under the
second-factor throttle cannot be guessed; a slow hash would add nothing but cost."""

from __future__ import annotations

import re
import secrets

from idp.core.tokens import keyed_hash

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10


def new_codes() -> list[str]:
    return [_format("".join(secrets.choice(ALPHABET) for _ in range(LENGTH))) for _ in range(COUNT)]


def _format(raw: str) -> str:
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str:
    """Any case, with or without the dash and spaces."""
    return re.sub(r"[\s-]", "", (code or "").lower())


def looks_like_code(code: str) -> bool:
    raw = normalise(code)
    return len(raw) == LENGTH and all(c in ALPHABET for c in raw)


def code_hash(code: str, secret_key: str) -> str:
    return keyed_hash("recovery:" + normalise(code), secret_key)

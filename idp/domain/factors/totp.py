"""Time-based one-time passwords (RFC 6238 via ``pyotp``): 6 digits, 30-second steps, SHA-1 (what
every authenticator app supports), ±1 step of clock skew, and no code accepted twice: a code is
accepted only for a step later than the last one accepted, so a code seen over a shoulder or
replayed from a phished page is refused within its step and after.

The QR code is inline SVG made here (``segno``): the secret never goes to a third-party service."""

from __future__ import annotations

import re

import pyotp
import segno

from idp.core.tokens import equals

STEP_SECONDS = 30
DIGITS = 6
#: Steps accepted either side of now (RFC 6238 §5.2 recommends at most one).
SKEW_STEPS = 1

_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """160 random bits, base32 (RFC 4226 §4 recommends 160)."""
    return pyotp.random_base32(length=32)


def normalise(code: str) -> str:
    """What people type: "123 456" or "123-456" are the code 123456."""
    return re.sub(r"[\s-]", "", code or "")


def looks_like_code(code: str) -> bool:
    return bool(_CODE.match(normalise(code)))


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI of the key (Google Authenticator's key URI format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code: a viewBox (the page's CSS sizes it, never cropping it), the
    standard quiet zone of 4 modules, and hidden from screen readers, for whom the key is written out
    next to it."""
    svg = str(segno.make(uri, error="m").svg_inline(omitsize=True, border=4, dark="#000", light="#fff"))
    return svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def step_at(now: float) -> int:
    return int(now // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return str(pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step))


def matching_step(secret: str, code: str, *, now: float, last_step: int | None) -> int | None:
    """The step whose code ``code`` is (within the skew), if it is later than ``last_step``; else None.
    Every candidate is compared, in constant time, so the answer's timing says nothing of which."""
    code = normalise(code)
    if not _CODE.match(code):
        return None
    current, found = step_at(now), None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if equals(code_at(secret, step), code) and (last_step is None or step > last_step) and found is None:
            found = step
    return found

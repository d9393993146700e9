"""Password hashing with argon2id (argon2-cffi), OWASP profile by default.

``verify`` always spends one argon2 verification, even for unknown users (against a
dummy hash made with the same parameters), so timing does not reveal whether an account
exists.

Passwords are NFKC-normalised before hashing and before verifying (ASVS 5 V6.2.8), so the same
password typed on another keyboard or pasted from another program still matches.
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1) -> None:
        self._argon2 = _Argon2(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism, type=Type.ID)
        self._dummy = self._argon2.hash("dummy password for unknown users")

    def hash(self, password: str) -> str:
        return self._argon2.hash(normalize(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; spends the same work when ``stored_hash`` is None."""
        try:
            return self._argon2.verify(stored_hash or self._dummy, normalize(password)) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def normalize(password: str) -> str:
    """NFKC, as ASVS 5 V6.2.8 and NIST SP 800-63B §5.1.1.2 ask, so equivalent input matches."""
    return unicodedata.normalize("NFKC", password)

"""Domain errors: what went wrong, as types. ``idp.http.errors`` maps each to an OAuth error, an RFC 9457
problem or a page by the kind of route; the CLI prints its message in one line."""

from __future__ import annotations

import math

from idp.core.text import Text


class StoreUnavailable(RuntimeError):
    """The backing store cannot be reached."""


class ThrottleUnavailable(StoreUnavailable):
    """The shared counters cannot be reached; the caller decides to fail closed or open."""


class TooManyAttempts(Exception):
    """Refused before verification; ``retry_after`` in whole seconds, ``scope`` for the audit only."""

    def __init__(self, retry_after: float, scope: str = "") -> None:
        super().__init__(retry_after)
        self.retry_after = max(1, math.ceil(retry_after))
        self.scope = scope


class Busy(Exception):
    """Every password hasher is taken and none came free within the wait: the provider is at its
    capacity for sign-ins. Answered 503 with ``Retry-After``; nothing was counted or verified."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = max(1, math.ceil(retry_after))


class KeyStoreError(RuntimeError):
    """No usable signing key (database unreachable on first use, wrong passphrase, …)."""


class PolicyError(ValueError):
    """The new password is refused; ``problems`` are sentences to show (``idp.core.text.Text``)."""

    def __init__(self, problems: list[Text]) -> None:
        super().__init__(" ".join(map(str, problems)))
        self.problems = problems


class ClientMetadataError(ValueError):
    """Invalid client metadata; ``field`` names the offending member (RFC 7591 §3.2.2)."""

    def __init__(self, field_name: str, message: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(f"{field_name}: {message}")
        self.field, self.error = field_name, error


class ClientOperationError(ValueError):
    """An operation that does not apply to this client (e.g. rotating the secret of a public client)."""


class KeyLifecycleError(ValueError):
    """A key command that cannot be carried out; the message is one line for the operator."""


class PublicationPeriodError(KeyLifecycleError):
    """A rotation refused because the next key of ``family`` (``kid``) has not been published for
    ``IDP_KEY_PUBLICATION_SECONDS`` yet: relying parties may not have fetched it. It may sign from ``ready_at``."""

    def __init__(self, message: str, *, family: str, kid: str, ready_at: float) -> None:
        super().__init__(message)
        self.family, self.kid, self.ready_at = family, kid, ready_at


class UserExists(ValueError):
    """A user with that registration number or e-mail already exists."""

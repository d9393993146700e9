"""``client_secret_basic`` (RFC 6749 §2.3.1) with the header decoded defensively.

Replaces Authlib's ``authenticate_client_secret_basic``, whose header decoding
(``extract_basic_authorization``) lets a ``UnicodeDecodeError`` escape on credentials that are
not UTF-8, and quietly treats other malformed headers as "no credentials". Here a Basic header
that cannot be decoded is ``invalid_client`` with 401 and a ``WWW-Authenticate`` challenge
(RFC 6749 §5.2: the client tried the Authorization header, so the answer is 401).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request

from idp.core.params import ParameterError, basic_credentials
from idp.http.protocol.models import OAuthClient

log = logging.getLogger(__name__)


def authenticate_client_secret_basic(
    query_client: Callable[[str], OAuthClient | None], request: OAuth2Request
) -> OAuthClient | None:
    """The client named and proven by the Basic header, or ``None`` to let the next method try."""
    try:
        credentials = basic_credentials(request.headers.get("Authorization"))
    except ParameterError as exc:
        log.info("client_secret_basic refused: %s", exc)
        raise InvalidClientError(status_code=401, description="The HTTP Basic credentials are malformed.") from None
    if credentials is None:
        return None
    client_id, secret = credentials
    if not client_id or not secret:
        return None  # as Authlib: other methods may still authenticate the client
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401, description="The client does not exist on this server.")
    return client if client.check_client_secret(secret) else None

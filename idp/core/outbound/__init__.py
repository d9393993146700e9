"""The provider's outbound HTTP: every URL it fetches for a client (back-channel logout, ``jwks_uri``)
goes through ``OutboundClient`` under one policy (``policy``): https only, every resolved address
checked against internal ranges when connecting, an operator allow-list (``IDP_OUTBOUND_ALLOW``),
no redirects, timeouts and a size cap. ``tests/unit/test_outbound_sources.py`` checks that no other code in
``idp/`` opens HTTP connections.
"""

from __future__ import annotations

from idp.core.outbound.client import OutboundClient, Resolver, Response, system_resolver
from idp.core.outbound.policy import AllowList, OutboundError, Target, check_address, target_of

__all__ = [
    "AllowList",
    "OutboundClient",
    "OutboundError",
    "Resolver",
    "Response",
    "Target",
    "check_address",
    "system_resolver",
    "target_of",
]

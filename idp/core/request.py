"""The facts of one request that use cases record: a value the HTTP layer builds and passes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class AuditFields(TypedDict, total=False):
    """Keyword arguments of ``idp.storage.sql.audit.record`` that describe the request."""

    ip: str
    user_agent: str
    request_id: str


@dataclass(frozen=True)
class RequestInfo:
    """Who asked: the client address (behind trusted proxies only), user agent and request id.

    Built once per request by ``idp.http.context.request_info``; the CLI and background jobs use
    ``RequestInfo.none()`` (their audit rows carry an actor instead)."""

    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def none(cls) -> RequestInfo:
        return cls()

    def audit_fields(self) -> AuditFields:
        """The columns of an audit row this request fills (empty outside a request)."""
        if not (self.ip or self.user_agent or self.request_id):
            return {}
        return {"ip": self.ip, "user_agent": self.user_agent[:300], "request_id": self.request_id}

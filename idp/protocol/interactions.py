"""Pending authorization requests, saved server-side while the user signs in or consents.

An interaction is the original ``/authorize`` parameters under a random id, plus what has
happened since (``login_done``, ``consent_done``). The sign-in and consent pages carry only
the id; ``/authorize/resume`` replays the saved parameters through Authlib again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from werkzeug.datastructures import MultiDict

from .. import services
from ..security.tokens import new_token

KEY = "interaction:"


@dataclass
class Interaction:
    id: str
    params: dict[str, list[str]]
    created_at: float
    login_done: bool = False
    consent_done: bool = False
    session_id: str | None = None
    extra: dict = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def save(self) -> None:
        data = asdict(self)
        services.store().put(KEY + self.id, data, services.settings().interaction_seconds)

    def discard(self) -> None:
        services.store().delete(KEY + self.id)

    def expired(self) -> bool:
        return services.now() - self.created_at >= services.settings().interaction_seconds


def start(values: MultiDict) -> Interaction:
    interaction = Interaction(id=new_token(), params={k: values.getlist(k) for k in values.keys()},
                              created_at=services.now())
    interaction.save()
    return interaction


def load(interaction_id: str | None) -> Interaction | None:
    if not interaction_id or len(interaction_id) > 100:
        return None
    data = services.store().get(KEY + interaction_id)
    if data is None:
        return None
    interaction = Interaction(**data)
    return None if interaction.expired() else interaction


class _StoredPayload(OAuth2Payload):
    def __init__(self, params: dict[str, list[str]]):
        self._multi = MultiDict([(k, v) for k, vs in params.items() for v in vs])

    @property
    def data(self):
        return self._multi

    @property
    def datalist(self):
        result = defaultdict(list)
        for k in self._multi:
            result[k].extend(self._multi.getlist(k))
        return result


class StoredRequest(OAuth2Request):
    """An authorization request rebuilt from an interaction, for Authlib to validate again."""

    def __init__(self, interaction: Interaction):
        super().__init__("GET", services.settings().issuer + "/authorize", headers={})
        self.payload = _StoredPayload(interaction.params)

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return MultiDict()

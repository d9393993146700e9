"""Helpers for the signing-key tests: lifecycle changes made "on another host", and a relying
party that verifies tokens the way a well-behaved one does (JWKS cache, refetch on unknown kid)."""

from __future__ import annotations

import base64
import json
import re

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.domain.keys import lifecycle as keyring
from idp.storage.sql import keys as key_repo
from idp.storage.sql.models import StoredKey

ALGS = ["RS256", "ES256", "EdDSA", "Ed25519"]


def header(token: str) -> dict:
    first = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))


def policy(provider) -> keyring.Policy:
    return keyring.Policy.from_settings(provider.app.extensions["idp"].settings)


def database(provider):
    return provider.app.extensions["idp"].database


def change_keys(provider, operation, *args, **kwargs):
    """Run a ``keyring`` operation in its own transaction, as ``idp keys …`` on another host would."""
    with database(provider).session() as db:
        result = operation(db, *args, now=provider.clock.now(), policy=policy(provider), **kwargs)
        db.commit()
        return result


def rotate(provider, family, **kwargs):
    return change_keys(provider, lambda db, now, policy: keyring.rotate(db, family, now, policy, **kwargs))


def revoke(provider, kid, **kwargs):
    return change_keys(provider, lambda db, now, policy: keyring.revoke(db, kid, now, policy, **kwargs))


def stored_keys(provider) -> list[StoredKey]:
    with database(provider).session() as db:
        return key_repo.list_keys(db)


def current_kid(provider, family) -> str:
    return next(k.kid for k in stored_keys(provider) if k.alg == family and k.state == "current")


class CachingVerifier:
    """Verifies our tokens like a relying party or resource server should: it caches the JWKS
    for its ``Cache-Control`` max-age and refetches at once when a token names an unknown kid."""

    def __init__(self, provider):
        self.provider = provider
        self.keys: KeySet | None = None
        self.expires_at = 0.0
        self.fetches: list[str] = []

    def _fetch(self, why: str) -> None:
        response = requests.get(self.provider.url + "/jwks.json", timeout=5)
        max_age = int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1))
        self.keys = KeySet.import_key_set(response.json())
        self.expires_at = self.provider.clock.now() + max_age
        self.fetches.append(why)

    def verify(self, token: str) -> dict:
        """The claims; raises joserfc's error when the signature does not verify."""
        if self.keys is None or self.provider.clock.now() >= self.expires_at:
            self._fetch("expired")
        kid = header(token).get("kid")
        if kid not in {k.kid for k in self.keys}:
            self._fetch(f"unknown kid {kid}")
        return jwt.decode(token, self.keys, algorithms=ALGS).claims

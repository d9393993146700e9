"""Prometheus metrics (``prometheus-client``), safe under several gunicorn workers.

Under ``idp serve`` every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set up
by ``idp.http.ops.gunicorn`` before any worker imports this module) and a scrape adds them up with
``MultiProcessCollector``; in a single process (tests, ``flask run``) the default registry is
used. Labels are bounded sets (endpoint names, outcomes, grant types), never user input.

Key age is computed at scrape time from the key store rather than kept as a gauge, so it is
right whichever worker answers the scrape.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from idp.core.errors import KeyStoreError
from idp.core.ports import KeyStore

SIGN_INS = Counter("idp_sign_ins_total", "Password sign-in attempts by outcome.", ["outcome"])
#: Second factors (issue 19): factor totp | passkey | recovery_code; outcome ok | wrong_code | replay | throttled |
#: invalid | enrolled | removed.
MFA_EVENTS = Counter("idp_mfa_events_total", "Second-factor events by factor and outcome.", ["factor", "outcome"])
THROTTLE_HITS = Counter("idp_throttle_hits_total", "Requests refused by the throttle before any work.", ["limit"])
TOKENS_ISSUED = Counter("idp_tokens_issued_total", "Successful token endpoint responses by grant type.", ["grant_type"])
ARGON2_VERIFY_SECONDS = Histogram(
    "idp_argon2_verify_seconds",
    "Time spent in one argon2id verification.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
)
REQUEST_SECONDS = Histogram(
    "idp_http_request_duration_seconds",
    "Request latency by endpoint.",
    ["endpoint", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESPONSES = Counter(
    "idp_http_responses_total", "Responses by endpoint and status code.", ["endpoint", "method", "status"]
)
UNAVAILABLE = Counter(
    "idp_dependency_unavailable_total", "Requests answered 503 because a dependency was down.", ["dependency"]
)
STORE_FALLBACK = Counter(
    "idp_store_fallback_total", "Store operations that found Redis unreachable and used the database instead."
)
#: One per delivery attempt of the back-channel logout sender (``idp.http.protocol.backchannel``):
#: ``delivered``, ``retrying`` (failed, another attempt is scheduled) or ``failed`` (given up).
BACKCHANNEL_DELIVERIES = Counter(
    "idp_backchannel_logout_deliveries_total",
    "Back-channel logout delivery attempts to relying parties, by outcome.",
    ["outcome"],
)


_children: dict[tuple, Any] = {}


def child(metric: Histogram | Counter, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per label set: ``labels()`` validates and locks on
    every call, which a per-request observe need not pay again. Label sets are bounded (endpoints,
    methods, status codes), so is this cache. Safe across a fork: a child re-opens its multiprocess
    file when the pid changes."""
    key = (id(metric), *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


class KeyAgeCollector:
    """``idp_signing_key_age_seconds{alg,state}``: seconds since each published key was created."""

    def __init__(self, keystore: KeyStore, now: Callable[[], float]) -> None:
        self._keystore, self._now = keystore, now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "idp_signing_key_age_seconds", "Age of each published signing key.", labels=["alg", "state", "kid"]
        )
        now = self._now()
        for key in self._keystore.keys():  # noqa: SIM118 a KeyStore, not a dict
            family.add_metric([key.alg, key.state, key.kid], max(0.0, now - key.created_at))
        yield family


def exposition(keystore: KeyStore, now: Callable[[], float]) -> tuple[bytes, str]:
    """The text exposition of every metric, summed across workers when in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    keys = CollectorRegistry()
    keys.register(KeyAgeCollector(keystore, now))
    # A broken key store must not hide the other metrics; /readyz reports it.
    with contextlib.suppress(KeyStoreError):
        body += generate_latest(keys)
    return body, CONTENT_TYPE_LATEST

"""Bounded background load for fault tests and bench/faults.py: a few loopback clients that keep
doing what users and relying parties do, recording when each request started, how long it took
and how it ended."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests

from tests.support.helpers import Browser, bearer, query


@dataclass
class Sample:
    kind: str
    started: float
    duration: float
    status: int | str  # HTTP status, or the exception class name when no response came


class Load:
    """One thread per (instance, kind); ``pause`` seconds between requests of a thread (bounded load).

    Kinds: ``sign_in`` (authorize + login form + code exchange: Redis and PostgreSQL, writes),
    ``authorize`` (the pending sign-in in Redis), ``userinfo`` (an access-token check in PostgreSQL),
    ``client_credentials`` (a client lookup in PostgreSQL and a signature).
    """

    def __init__(
        self,
        cluster,
        instances,
        kinds=("sign_in", "authorize", "userinfo", "client_credentials"),
        pause: float = 0.05,
        timeout: float = 30,
    ):
        self.cluster, self.instances, self.kinds = cluster, instances, kinds
        self.pause, self.timeout = pause, timeout
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._prepare()

    def _prepare(self) -> None:
        first = self.instances[0]
        self.rp = self.cluster.relying_party(first)
        self.service = self.cluster.relying_party(
            first, grant_types=["client_credentials"], redirect_uris=[], scope="api"
        )
        self.access_token = self.rp.exchange(self.rp.sign_in(Browser(self.cluster.provider(first))))["access_token"]

    def start(self) -> Load:
        for instance in self.instances:
            for kind in self.kinds:
                thread = threading.Thread(target=self._run, args=(instance, kind), daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.samples

    def _run(self, instance, kind) -> None:
        action = getattr(self, "_" + kind)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = action(instance)
            except requests.RequestException as exc:
                status = exc.__class__.__name__
            with self._lock:
                self.samples.append(Sample(kind, started, time.monotonic() - started, status))
            self._stop.wait(self.pause)

    # -- actions: each returns the status of its deciding request --------------------------------
    def _sign_in(self, instance) -> int:
        from dataclasses import replace

        rp = replace(self.rp, provider=self.cluster.provider(instance))
        browser = Browser(self.cluster.provider(instance))
        response = browser.follow(browser.get(rp.authorization_url()))
        if response.status_code != 200:
            return response.status_code
        response = browser.follow(browser.submit_login(response))
        if response.status_code != 302:
            return response.status_code
        token = rp.token_request(
            {
                "grant_type": "authorization_code",
                "redirect_uri": rp.redirect_uri,
                "code": query(response.headers["Location"])["code"],
                "code_verifier": rp.verifier,
            }
        )
        return token.status_code

    def _authorize(self, instance) -> int:
        return requests.get(
            instance.url + self.rp.authorization_url().removeprefix(self.rp.provider.url),
            allow_redirects=False,
            timeout=self.timeout,
        ).status_code

    def _userinfo(self, instance) -> int:
        return requests.get(
            instance.url + "/userinfo", headers=bearer(self.access_token), timeout=self.timeout
        ).status_code

    def _client_credentials(self, instance) -> int:
        return requests.post(
            instance.url + "/token",
            data={"grant_type": "client_credentials"},
            auth=(self.service.client_id, self.service.client_secret),
            timeout=self.timeout,
        ).status_code


@dataclass
class Outage:
    """What the load saw around one outage (times in seconds, relative to the cut)."""

    samples: list[Sample]
    cut_at: float
    restored_at: float

    def during(self, kind: str | None = None) -> list[Sample]:
        """Requests that began and ended while the dependency was down."""
        return [
            s
            for s in self.samples
            if self.cut_at + 0.2 <= s.started
            and s.started + s.duration < self.restored_at
            and (kind is None or s.kind == kind)
        ]

    def statuses(self, kind: str | None = None) -> set:
        return {s.status for s in self.during(kind)}

    def slowest(self, kind: str | None = None) -> float:
        """The longest request that began during the outage, however late it ended (a hung one shows here)."""
        return max(
            (
                s.duration
                for s in self.samples
                if self.cut_at <= s.started < self.restored_at and (kind is None or s.kind == kind)
            ),
            default=0.0,
        )

    def first_503_after_cut(self, kind: str) -> float | None:
        ends = [
            s.started + s.duration - self.cut_at
            for s in self.samples
            if s.kind == kind and s.status == 503 and s.started + s.duration >= self.cut_at
        ]
        return min(ends, default=None)

    def recovery(self, kind: str) -> float | None:
        """Seconds from the restore to the first request of this kind that started after it and succeeded."""
        ok = [
            s.started + s.duration - self.restored_at
            for s in self.samples
            if s.kind == kind and s.started >= self.restored_at and s.status == 200
        ]
        return min(ok, default=None)

    def unexpected(self) -> list[Sample]:
        """Anything that is neither success (200, or 302 for authorize) nor a clean 503."""
        fine = {200, 302, 503}
        return [s for s in self.samples if s.status not in fine]


def run_outage(
    load: Load,
    proxy,
    *,
    before: float = 1.0,
    down: float = 4.0,
    settle: float = 20.0,
    recovered=lambda outage: True,
    during=None,
) -> Outage:
    """Load running: wait ``before``, cut ``proxy`` for ``down`` seconds (calling ``during()``, if
    given, right after the cut), restore, and keep the load running until ``recovered(outage)``
    holds (at most ``settle`` seconds)."""
    load.start()
    time.sleep(before)
    cut_at = time.monotonic()
    proxy.cut()
    if during is not None:
        during()
    time.sleep(max(0.0, cut_at + down - time.monotonic()))
    restored_at = time.monotonic()
    proxy.restore()
    outage = Outage(load.samples, cut_at, restored_at)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and not recovered(outage):
        time.sleep(0.2)
    time.sleep(0.5)
    load.stop()
    return outage

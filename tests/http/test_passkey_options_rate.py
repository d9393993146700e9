"""Each passkey-options answer stores a challenge for minutes, and every sign-in page asks for one
(autofill): the requests are bounded per client IP (``IDP_RATE_PASSKEY_OPTIONS_IP_*``), with a 429
and ``Retry-After`` in the page's JSON, never a store that fills without end."""

from __future__ import annotations

import re


def test_passkey_options_are_rate_limited_per_ip(make_provider):
    provider = make_provider(rate_passkey_options_ip_limit=2, rate_passkey_options_ip_seconds=60)
    http = provider.app.test_client()
    login = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    answers = [http.post("/passkeys/options", data={"csrf_token": token, "purpose": "signin"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].json["challenge"]  # WebAuthn options, a fresh challenge
    assert int(answers[2].headers["Retry-After"]) >= 1 and answers[2].json["error"]
    provider.clock.advance(60)
    assert http.post("/passkeys/options", data={"csrf_token": token, "purpose": "signin"}).status_code == 200

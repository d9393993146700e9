"""Throttle keys: one counter per IPv4 address or IPv6 /64 (the backends themselves are
tests/contract/test_throttle.py and tests/e2e/test_throttle.py)."""

from __future__ import annotations

from idp.storage.throttle.core import ip_key


def test_ip_key_is_the_ipv4_address_or_the_ipv6_64():
    assert ip_key("192.0.2.1") == "192.0.2.1"
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert ip_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ip_key("not an address") == "not an address" and ip_key("") == "unknown"

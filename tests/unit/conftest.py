"""The unit tier: a test here that opens a connection is in the wrong tier (or code it calls reaches
out when it should not), so every socket connect fails loudly."""

from __future__ import annotations

import socket

import pytest


class NetworkInUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(sock, address, *args, **kwargs):
        raise NetworkInUnitTest(f"a unit test connected to {address!r}: move it to tests/http or tests/e2e")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

"""The offline guard of ``tests/conftest.py`` works: reaching another machine fails
the test that tries, this machine stays reachable (Jupyter kernels talk over it)."""

from __future__ import annotations

import socket
import urllib.request

import pytest

OFFLINE = "vidlib and its tests must run offline"


def test_a_connection_to_another_machine_fails_the_test() -> None:
    with pytest.raises(AssertionError, match=f"lookup of 'example.org': {OFFLINE}"):
        socket.create_connection(("example.org", 80), timeout=1)
    with (
        socket.socket() as sock,
        pytest.raises(AssertionError, match=f"connection to '10.1.2.3': {OFFLINE}"),
    ):
        sock.connect(("10.1.2.3", 80))
    with pytest.raises(AssertionError, match=OFFLINE):
        urllib.request.urlopen("https://download.pytorch.org/models/", timeout=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_this_machine_stays_reachable(host: str) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection((host, server.getsockname()[1]), timeout=1),
    ):
        pass

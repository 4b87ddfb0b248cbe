"""No test may reach the network: vidlib runs offline (it reads weights and data only
from local paths users give). Every test runs with the socket functions that reach
other machines refused unless the address is this machine's; ``make test`` also runs
the whole suite in a network namespace without network (see the Makefile)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

LOCAL_NAMES = {"localhost", "", None}


class NetworkUsed(AssertionError):
    """A test tried to reach another machine."""


def is_local(host: object) -> bool:
    """Whether ``host`` (a name or an IP literal) is this machine."""
    if isinstance(host, bytes):
        host = host.decode()
    if host in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse_remote(host: object, what: str) -> None:
    if not is_local(host):
        raise NetworkUsed(f"{what} {host!r}: vidlib and its tests must run offline")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse name lookups and connections to any host but this one."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto

    def host_of(sock: socket.socket, address: object) -> object:
        if sock.family == socket.AF_UNIX:
            return "localhost"
        return address[0] if isinstance(address, tuple) else address

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        _refuse_remote(host, "name lookup of")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: object) -> None:
        _refuse_remote(host_of(sock, address), "connection to")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        _refuse_remote(host_of(sock, address), "connection to")
        return real_connect_ex(sock, address)

    def sendto(sock: socket.socket, data: bytes, *args: object) -> int:
        _refuse_remote(host_of(sock, args[-1]), "datagram to")
        return real_sendto(sock, data, *args)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    yield

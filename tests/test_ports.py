"""`vigie.ports.free_port`: ports below the kernel's ephemeral range (where connections take
their local ports), free when handed out, never handed out twice by a process."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vigie import ports


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    handed = [ports.free_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)
    assert all(20_000 <= port < first_ephemeral for port in handed)
    for port in handed[:20]:  # each one a server can listen on
        with socket.create_server(("127.0.0.1", port)):
            pass


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.socket(type=socket.SOCK_DGRAM) as datagrams,
    ):
        datagrams.bind(("127.0.0.1", 0))
        listening, receiving = server.getsockname()[1], datagrams.getsockname()[1]
        spare = ports.free_port()
        monkeypatch.setattr(ports, "_ports", iter([listening, receiving, spare]))
        assert ports.free_port() == spare
        # None left below the range: the kernel's pick, still a free one.
        with socket.create_server(("127.0.0.1", ports.free_port())):
            pass

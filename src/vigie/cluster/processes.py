"""The cluster's processes started as subprocesses on this machine (`vigie cluster demo`, the
chaos tests): each API process, detection worker and gateway a process of its own, on free
127.0.0.1 ports, its output in a log file, stopped by its PID.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vigie.ports import free_port


@dataclass
class Process:
    role: str  # api, worker or gateway
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    where: str = ""
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def state(self) -> str:
        code = self.popen.poll()
        return "running" if code is None else f"exited ({code})"


def vigie_command(*arguments: str) -> list[str]:
    """The `vigie` command of this Python's environment."""
    return [str(Path(sys.executable).parent / "vigie"), *arguments]


def spawn(
    role: str, name: str, argv: list[str], env: dict[str, str], folder: Path, **ports: int
) -> Process:
    """Start one process in a session of its own (a signal to it reaches it alone), its
    output appended to `folder/name.log`."""
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(role, name, popen, log, ports=dict(ports))


def api(name: str, port: int, env: dict[str, str], folder: Path) -> Process:
    process = spawn("api", name, vigie_command("centre", "serve", "--port", str(port)), env, folder)
    process.where = f"http://127.0.0.1:{port}/"
    process.ports["http"] = port
    return process


def worker(name: str, env: dict[str, str], folder: Path) -> Process:
    return spawn("worker", name, vigie_command("cluster", "worker", "--name", name), env, folder)


def gateway(name: str, env: dict[str, str], folder: Path) -> Process:
    """A gateway serving Teltonika (TCP) and OsmAnd (HTTP) on ports of its own."""
    teltonika, osmand = free_port(), free_port()
    argv = vigie_command(
        *("gateway", "serve", "--teltonika-port", str(teltonika)),
        *("--osmand-port", str(osmand)),
    )
    process = spawn("gateway", name, argv, env, folder, teltonika=teltonika, osmand=osmand)
    process.where = f"teltonika :{teltonika}, osmand :{osmand}"
    return process


def start_tiers(
    env: dict[str, str], folder: Path, api_ports: list[int], workers: int, gateways: int
) -> list[Process]:
    """The API processes (one per port), detection workers and gateways of a cluster whose
    NATS nodes and database `env` names (VIGIE_MODE=cluster, VIGIE_NATS_URLS, ...)."""
    started = [api(f"api{i}", port, env, folder) for i, port in enumerate(api_ports, 1)]
    started += [worker(f"worker{i}", env, folder) for i in range(1, workers + 1)]
    started += [gateway(f"gateway{i}", env, folder) for i in range(1, gateways + 1)]
    return started


def wait_http(url: str, timeout_s: float = 60) -> None:
    """Until `url` answers at all (any status)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")


def stop_all(processes: list[Process], timeout_s: float = 15) -> None:
    """SIGTERM to each process still running (a stopped one is continued first), then
    SIGKILL to those not gone within `timeout_s`."""
    for process in processes:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGCONT)
            process.popen.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

"""Mosquitto (Debian's) for the gateway's MQTT devices: started on 127.0.0.1, stopped by PID.

Its configuration and persistence live in a folder of ours (never a pid_file in a root-owned
folder). Persistent sessions let the gateway be down without a device's reading being lost:
the broker queues what the gateway's QoS 1 subscription has not acknowledged.

No anonymous client: every client logs in with a password file (devices under their id and
their secret, the gateway under `GATEWAY_USER`), and an ACL lets a device publish only on its
own topic and only the gateway read them: a device cannot pose as another. On a reload (SIGHUP)
Mosquitto 2 reads the file again and checks every connected client against it, closing those it
no longer admits (`mosquitto_security_apply_default`): a withdrawn device's or a replaced
secret's live session ends there (`vigie.gateway.broker_logins` drives it).
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = Path("/usr/sbin/mosquitto")
# Not a possible device id (those have no "@"): the gateway's account cannot be a device's.
GATEWAY_USER = "vigie@gateway"
ACL = (
    "# Each device publishes on its own topic only (its username is its device id).\n"
    "pattern write vigie/devices/%u/obs\n"
    "pattern write vigie/devices/%u/replies\n"
    "pattern read vigie/devices/%u/commands\n"
    "\n"
    f"user {GATEWAY_USER}\n"
    "topic read vigie/devices/+/obs\n"
    "topic read vigie/devices/+/replies\n"
    "topic write vigie/devices/+/commands\n"
)


class BrokerError(RuntimeError):
    """Mosquitto could not be started, or is not running to be reloaded."""


def logins_of(passwords: str) -> dict[str, str]:
    """Username -> hash of a Mosquitto password file's text."""
    return dict(line.split(":", 1) for line in passwords.splitlines() if ":" in line)


class Mosquitto:
    """One Mosquitto process listening on 127.0.0.1:`port`, configured in `folder`, admitting
    the accounts of `passwords` (a Mosquitto password file, see
    `vigie.cases.device_secrets.password_file`)."""

    def __init__(self, folder: Path, port: int, passwords: str) -> None:
        self.folder = folder
        self.port = port
        self.passwords = passwords
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {self.folder}/passwords",
            f"acl_file {self.folder}/acl",
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            # The defaults (1000 queued, 20 in flight) would drop or throttle a burst of
            # buffered readings while the gateway is restarting.
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            "max_packet_size 1048576",
            f"log_dest file {self.folder}/mosquitto.log",
        ]
        if os.geteuid() == 0:
            # As root, Mosquitto would switch to the `mosquitto` user, who cannot write here.
            lines.append(f"user {pwd.getpwuid(0).pw_name}")
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 10.0) -> None:
        if not MOSQUITTO.exists():
            raise BrokerError(f"{MOSQUITTO} not found: run scripts/system-deps.sh as root first")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write_passwords(self.passwords)
        (self.folder / "acl").write_text(ACL)
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config())
        self._process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise BrokerError(
                    f"mosquitto exited ({self._process.returncode}): {self._errors(error)}"
                )
            # Its own word first: a connection alone would be answered by another process
            # listening on the port, while this one fails to bind and exits.
            if any(line.endswith(" running") for line in self._this_run()):
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on 127.0.0.1:{self.port} in {timeout_s} s")

    def _errors(self, stderr: str) -> str:
        """Why it stopped: its log's error lines (it logs to its file, not to stderr, once it
        has read its configuration: "Address already in use" is there), else its stderr."""
        errors = [line.split(": ", 1)[-1] for line in self._this_run() if "Error" in line]
        return "; ".join(errors) or stderr.strip()

    def _this_run(self) -> list[str]:
        """Its log's lines since it last started (the file outlives a restart)."""
        log = self.folder / "mosquitto.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        starts = [k for k, line in enumerate(lines) if " starting" in line]
        return lines[starts[-1] :] if starts else lines

    def write_passwords(self, passwords: str) -> None:
        """Replace the password file (owner-only: it holds hashes); a running broker rereads it
        on `reload`. Written aside then renamed: a broker (re)starting meanwhile reads the old
        file or the new one, never half of one (which would refuse every device)."""
        path = self.folder / "passwords"
        staged = path.with_name("passwords.new")
        staged.touch(mode=0o600)
        staged.chmod(0o600)
        staged.write_text(passwords)
        staged.replace(path)
        self.passwords = passwords

    def reload(self) -> None:
        """Make the running broker reread its password file and close the sessions it no longer
        admits; `BrokerError` when it is not running (a signal would go nowhere)."""
        if self._process is None or self._process.poll() is not None:
            raise BrokerError(f"mosquitto on 127.0.0.1:{self.port} is not running")
        self._process.send_signal(signal.SIGHUP)  # by PID: this process only

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()  # by PID: this process only
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

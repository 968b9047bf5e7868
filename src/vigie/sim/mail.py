"""The demo's mail server: the reports the centre mails to the judge, the prosecutor and the
SPIP land in a Maildir beside the demo's database. On a fresh machine no SMTP server listens:
every report closed in the demo failed eight times and was listed as undelivered, and the
demo's contacts have made-up addresses that no real relay should be given."""

from __future__ import annotations

from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from vigie.ports import free_port


class DemoMail:
    """A real SMTP server (aiosmtpd) on the loopback, storing each mail in `folder`/new/."""

    def __init__(self, folder: Path) -> None:
        # A Maildir's three folders (`mailbox` makes them for a folder it creates only).
        for part in ("tmp", "new", "cur"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.host = "127.0.0.1"
        self.port = free_port()
        self._server = Controller(Mailbox(folder), hostname=self.host, port=self.port)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

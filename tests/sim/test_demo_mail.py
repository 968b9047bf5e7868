"""The demo's mail server (`vigie.sim.mail`): a report closed in the demo reaches the judge, the
prosecutor and the SPIP in a Maildir beside the demo's database. On a fresh machine no SMTP
server listens: every report failed eight times and was listed as undelivered."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from pathlib import Path

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import outbox
from vigie.settings import Settings
from vigie.sim.mail import DemoMail


def test_a_report_closed_in_the_demo_is_in_its_mailbox(
    centre: Centre, database_url: str, tmp_path: Path
) -> None:
    world = build(centre)
    alarm = world.new_alarm("closed")
    mail = DemoMail(tmp_path / "demo-mail")
    mail.start()
    try:
        config = Settings(database_url=database_url, smtp_host=mail.host, smtp_port=mail.port)
        # Past any retry the centre's own outbox worker may have set (to no server).
        later = clock.now() + timedelta(hours=1)
        assert outbox.deliver_due(centre.db, config, later) == 3
    finally:
        mail.stop()
    mails = list(mailbox.Maildir(tmp_path / "demo-mail"))
    assert sorted(m["To"].split("@")[0] for m in mails) == ["judge", "prosecutor", "spip"]
    for message in mails:
        files = [part.get_filename() for part in message.walk() if part.get_filename()]
        assert files == [f"incident-{alarm}.pdf", f"incident-{alarm}.html"]

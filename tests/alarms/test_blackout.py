"""The blackout asked about some devices only: it hides what it did not look up."""

from datetime import UTC, datetime

from vigie.alarms import privacy
from vigie.store import Database
from vigie.store.models import Device

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_a_blackout_of_some_devices_hides_her_device_and_any_not_looked_up(db: Database) -> None:
    with db.session() as session:
        session.add_all(
            [
                Device(id="W1", kind="bracelet"),
                Device(id="P1", kind="protected_device"),
                Device(id="P2", kind="protected_device"),
            ]
        )
        session.flush()
        whole = privacy.blackout(session, ["C1"], NOW)
        some = privacy.blackout(session, ["C1"], NOW, asked=["W1", "P1"])
    assert whole.devices == {"P1", "P2"}
    assert some.devices == {"P1"}  # only what was asked about was read
    assert not some.hides("C1", "W1", NOW)  # the wearer, outside any BAR window
    assert some.hides("C1", "P1", NOW)  # her device
    assert some.hides("C1", "P2", NOW)  # not looked up: hidden, never shown for want of a look
    assert some.hides("C1", "X9", NOW)
    assert not whole.hides("C1", "X9", NOW)  # a device not hers, all looked up

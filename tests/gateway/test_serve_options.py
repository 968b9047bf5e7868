"""`vigie gateway serve` with options it cannot use: refused by name, exit 2, before the store
is touched or a port bound (they were tracebacks from deep inside, after both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigie.cli import app
from vigie.settings import settings


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vigie.sqlite"
    monkeypatch.setenv("VIGIE_DATABASE_URL", f"sqlite:///{path}")
    settings.cache_clear()
    return path


def test_an_unknown_osmand_zone_is_refused_first(store: Path) -> None:
    result = CliRunner().invoke(app, ["gateway", "serve", "--osmand-zone", "Mars/Olympus"])
    assert result.exit_code == 2, result.output
    assert "--osmand-zone" in result.output and "not a known time zone" in result.output
    assert not store.exists()


def test_a_tls_certificate_that_cannot_be_loaded_is_refused_first(
    store: Path, tmp_path: Path
) -> None:
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("not a certificate")
    for cert, key in ((tmp_path / "gone.pem", tmp_path / "gone.key"), (not_pem, not_pem)):
        argv = ["gateway", "serve", "--teltonika-tls-port", "5028"]
        result = CliRunner().invoke(app, [*argv, "--tls-cert", str(cert), "--tls-key", str(key)])
        assert result.exit_code == 2, result.output
        assert "--tls-cert" in result.output and "cannot load" in result.output
    result = CliRunner().invoke(app, ["gateway", "serve", "--teltonika-tls-port", "5028"])
    assert result.exit_code == 2 and "needs --tls-cert and --tls-key" in result.output
    assert not store.exists()


def test_a_broker_whose_port_is_taken_is_said_in_a_line(store: Path, tmp_path: Path) -> None:
    """Mosquitto's own reason, from its log (its stderr only says it runs as root): the port
    was the local end of a connection, as in a clean-clone run where a connection to
    PostgreSQL took the port picked for the test's broker between the pick and the bind."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as connection:
        taken = connection.getsockname()[1]
        argv = ["gateway", "serve", "--mqtt-port", str(taken), "--start-broker"]
        folder = tmp_path / "broker"
        result = CliRunner().invoke(app, [*argv, "--broker-folder", str(folder)])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        "vigie gateway: the MQTT broker did not start: mosquitto exited (1): "
        "Error: Address already in use"
    )


def test_a_port_another_process_listens_on_is_not_taken_for_the_broker(
    store: Path, tmp_path: Path
) -> None:
    """Mosquitto fails to bind and exits; a connection to the port, answered by the other
    process meanwhile, was taken for the broker listening: the gateway then ran with no broker."""
    import socket

    from vigie.gateway.broker import BrokerError, Mosquitto

    with socket.create_server(("127.0.0.1", 0)) as other:
        taken = other.getsockname()[1]
        broker = Mosquitto(tmp_path / "broker", taken, "")
        try:
            broker.start()
        except BrokerError as refused:
            assert "Address already in use" in str(refused)
        else:
            broker.stop()
            raise AssertionError("a broker was said to listen on a port another process holds")

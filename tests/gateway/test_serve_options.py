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

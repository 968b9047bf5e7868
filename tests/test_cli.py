"""The `vigie` command with a setting the environment gets wrong: each one named in a line,
exit 2, no traceback, and never the value (a secret, as often as not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def vigie(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [("db", "upgrade"), ("cluster", "status")])
def test_wrong_settings_are_named_without_a_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    database = tmp_path / "vigie.sqlite"
    wrong = {
        "VIGIE_DATABASE_URL": f"sqlite:///{database}",
        "VIGIE_METRICS_TOKEN": "hunter2-is-short",
        "VIGIE_BLIND_AFTER_S": "-3",
    }
    result = vigie(wrong, *command)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "vigie: VIGIE_BLIND_AFTER_S: Input should be greater than 0" in lines
    assert any(
        line.startswith("vigie: VIGIE_METRICS_TOKEN: ") and "at least 32 characters" in line
        for line in lines
    ), lines
    assert len(lines) == 2 and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr  # the value is not repeated
    assert not database.exists()  # refused before anything was done


def test_a_url_that_names_no_store_is_a_wrong_setting() -> None:
    for url, said in (
        ("nonsense", "not a database URL"),
        ("mysql://vigie@db/vigie", "a mysql database: the store is SQLite or PostgreSQL"),
    ):
        result = vigie({"VIGIE_DATABASE_URL": url}, "db", "upgrade")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"vigie: VIGIE_DATABASE_URL: Value error, {said}")
        assert "Traceback" not in result.stderr


def test_a_database_that_does_not_answer_is_said_in_a_line() -> None:
    closed = "postgresql+psycopg://vigie@127.0.0.1:1/vigie?connect_timeout=2"
    result = vigie({"VIGIE_DATABASE_URL": closed}, "db", "upgrade")
    assert result.returncode == 1
    assert result.stderr.startswith("vigie: the database did not answer: connection failed")
    assert "Traceback" not in result.stderr


def test_an_audit_key_that_cannot_sign_stops_the_start(tmp_path: Path) -> None:
    """A missing or empty key file, or a short key, is refused before anything runs: an HMAC
    under an empty key is one anyone can forge, and a missing file failed at first use."""
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    url = {"VIGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'vigie.sqlite'}"}
    for setting, said in (
        ({"VIGIE_AUDIT_KEY_FILE": str(tmp_path / "gone.key")}, "cannot be read"),
        ({"VIGIE_AUDIT_KEY_FILE": str(empty)}, "the key must be at least 32 characters"),
        ({"VIGIE_AUDIT_KEY": "s3cret"}, "VIGIE_AUDIT_KEY must be at least 32 characters"),
    ):
        result = vigie(url | setting, "audit", "verify")
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr
        assert "s3cret" not in result.stderr


def test_an_smtp_ca_file_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    """Found at start, not after hours of reports to judges failing to go."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    url = {"VIGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'vigie.sqlite'}"}
    for path in (str(tmp_path / "gone.pem"), str(not_pem)):
        result = vigie(url | {"VIGIE_SMTP_CA_FILE": path}, "db", "upgrade")
        assert result.returncode == 2, result.stderr
        assert f"vigie: VIGIE_SMTP_CA_FILE: Value error, {path}: not a readable CA file" in (
            result.stderr
        )


def test_the_command_loads_the_server_the_store_and_the_engine_only_when_used() -> None:
    """Every `vigie` call imports every sub-command's module: one that imported the API at its
    top made `vigie law assess` take 1.9 s to start (0.5 s without)."""
    probe = (
        "import sys, vigie.cli; "
        "print(' '.join(m for m in ('vigie.api', 'sqlalchemy', 'numpy', 'uvicorn', 'httpx') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []

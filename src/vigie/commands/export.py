"""`vigie export` and `vigie import`: a case's whole history out and in, as a signed archive."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Export cases as signed archives in open formats.", no_args_is_help=True)

KeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="The centre's Ed25519 key file (default: VIGIE_EXPORT_KEY)."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Private key file (the public one: .pub).")],
    recipient: Annotated[
        bool,
        typer.Option(
            "--recipient", help="An X25519 key to receive the protected person's data instead."
        ),
    ] = False,
) -> None:
    """Make the centre's signing key, or a recipient's key pair; never overwrites a key."""
    from vigie.export import keys

    try:
        public = keys.generate(out, "recipient" if recipient else "signing")
    except keys.KeyFileError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"private key: {out} (0600)\npublic key: {public}")


def _signing_key(path: Path | None):  # type: ignore[no-untyped-def]
    from vigie.export import keys

    try:
        return keys.load_signing_key(path or keys.signing_key_path())
    except keys.KeyFileError as exc:
        raise _fail(f"{exc}; make one with `vigie export keygen --out FILE`") from exc


def _actor(actor: str | None) -> str:
    """Who exports: an admin account of this centre (the act is audited under that name)."""
    from sqlalchemy import select

    from vigie.settings import settings
    from vigie.store import open_database
    from vigie.store.models import User

    if actor is None:
        raise _fail("--as ADMIN is required: exports and imports are done by an admin", 2)
    database = open_database(settings().database_url)
    try:
        with database.reading() as session:
            user = session.scalars(select(User).where(User.username == actor)).first()
    finally:
        database.dispose()
    if user is None or not user.active or user.role != "admin":
        raise _fail(f"--as {actor}: not an active admin account of this centre", 2)
    return actor


AsOption = Annotated[
    str | None, typer.Option("--as", help="The admin account doing it (audited under it).")
]


@app.command()
def case(
    ref: Annotated[str, typer.Argument(help="The case reference.")],
    out: Annotated[Path, typer.Option("--out", help="The archive to write (.zip).")],
    victim_data_to: Annotated[
        Path | None,
        typer.Option(
            "--victim-data-to",
            help="Seal the protected person's data to this X25519 public key (default: left out).",
        ),
    ] = None,
    key: KeyOption = None,
    actor: AsOption = None,
) -> None:
    """Export one case: its file, zones, observations, track, alarms, reports and audit."""
    from vigie.export import keys
    from vigie.export.case_export import CaseNotExported, ExportRequest, export_case
    from vigie.settings import settings
    from vigie.store import open_database

    who = _actor(actor)
    signing = _signing_key(key)
    try:
        recipient = keys.load_recipient(victim_data_to) if victim_data_to else None
    except keys.KeyFileError as exc:
        raise _fail(str(exc), 2) from exc
    database = open_database(settings().database_url)
    try:
        manifest = export_case(database, ExportRequest(ref, who, recipient=recipient), signing, out)
    except CaseNotExported as exc:
        raise _fail(str(exc), 2) from exc
    finally:
        database.dispose()
    counts = ", ".join(f"{m['name']} {m['records']}" for m in manifest["members"] if "records" in m)
    typer.echo(
        f"{out}: case {ref}, {counts}; protected person's data "
        f"{manifest['protected_data']['status']}"
    )


@app.command()
def centre(
    since: Annotated[
        str, typer.Option("--since", help="Cases changed on or after this date (YYYY-MM-DD).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for one archive per case.")],
    key: KeyOption = None,
    actor: AsOption = None,
) -> None:
    """Export every case changed since DATE (set up or changed, active, or with alarm events
    since), one archive each; the protected person's data is left out."""
    from datetime import UTC, datetime

    from sqlalchemy import or_, select

    from vigie.export.case_export import ExportRequest, export_case
    from vigie.settings import settings
    from vigie.store import open_database
    from vigie.store.models import Alarm, Placement

    try:
        start = datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
    except ValueError as exc:
        raise _fail(f"--since {since!r}: expected a date YYYY-MM-DD", 2) from exc
    who = _actor(actor)
    signing = _signing_key(key)
    out.mkdir(parents=True, exist_ok=True)
    database = open_database(settings().database_url)
    try:
        with database.reading() as session:
            # Changed since: set up or changed, watched (its observations keep coming), or an
            # alarm moved.
            moved = select(Alarm.case_ref).where(Alarm.last_event_at >= start)
            refs = list(
                session.scalars(
                    select(Placement.case_ref)
                    .where(
                        or_(
                            Placement.updated_at >= start,
                            Placement.status == "active",
                            Placement.case_ref.in_(moved),
                        )
                    )
                    .order_by(Placement.case_ref)
                )
            )
        for ref in refs:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ref)
            export_case(database, ExportRequest(ref, who), signing, out / f"{safe}.zip")
    finally:
        database.dispose()
    typer.echo(f"{len(refs)} case(s) exported to {out}")


@app.command()
def verify(
    archive: Annotated[Path, typer.Argument(help="The archive to check.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The exporting centre's public key, to require its signature."),
    ] = None,
) -> None:
    """Check signature, hashes and counts: exit 0 when sound, 1 naming the member at fault."""
    from vigie.export import keys
    from vigie.export.verify import ArchiveInvalid
    from vigie.export.verify import verify as check

    try:
        trusted = keys.load_verify_key(key) if key else None
        verified = check(archive, trusted)
    except keys.KeyFileError as exc:
        raise _fail(str(exc), 2) from exc
    except ArchiveInvalid as exc:
        raise _fail(f"{archive}: INVALID: {exc}") from exc
    manifest = verified.manifest
    typer.echo(
        f"{archive}: sound: case {manifest['case_ref']}, {len(manifest['members'])} members, "
        f"signed by centre key {verified.fingerprint}"
        + ("" if key else " (not checked against a trusted key: use --key)")
    )


def import_case(
    archive: Annotated[Path, typer.Argument(help="The archive to import.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The exporting centre's public key, to require its signature."),
    ] = None,
    victim_key: Annotated[
        Path | None,
        typer.Option(
            "--victim-key",
            help="The recipient's X25519 private key, to open the protected person's data.",
        ),
    ] = None,
    case_ref: Annotated[
        str | None,
        typer.Option(
            "--case-ref", help="Import under this reference (when the original is taken)."
        ),
    ] = None,
    actor: AsOption = None,
) -> None:
    """Import a case archive: refused if tampered; idempotent; never overwrites; audited."""
    from vigie.export import keys
    from vigie.export.importer import ImportInterrupted, ImportRefused, import_archive
    from vigie.export.verify import ArchiveInvalid
    from vigie.settings import settings
    from vigie.store import open_database

    who = _actor(actor)
    try:
        trusted = keys.load_verify_key(key) if key else None
        private = keys.load_recipient_private(victim_key) if victim_key else None
    except keys.KeyFileError as exc:
        raise _fail(str(exc), 2) from exc
    database = open_database(settings().database_url)
    try:
        result = import_archive(
            database, archive, who, trusted=trusted, victim_key=private, case_ref_as=case_ref
        )
    except ArchiveInvalid as exc:
        raise _fail(f"{archive}: REFUSED: {exc}") from exc
    except ImportRefused as exc:
        raise _fail(f"{archive}: REFUSED: {exc}") from exc
    except ImportInterrupted as exc:
        stored = ", ".join(f"{k} {v}" for k, v in sorted(exc.result.added.items())) or "nothing"
        raise _fail(
            f"{archive}: INTERRUPTED ({exc}): case {exc.result.case_ref} is partly imported "
            f"(added {stored}); run the same command again to finish it (what came in is "
            "kept and not imported twice)"
        ) from exc
    finally:
        database.dispose()
    added = ", ".join(f"{k} {v}" for k, v in sorted(result.added.items())) or "nothing new"
    typer.echo(
        f"case {result.case_ref} imported (placement {result.placement_id}, from centre "
        f"{result.source}): added {added}; protected person's data {result.protected_data}"
    )

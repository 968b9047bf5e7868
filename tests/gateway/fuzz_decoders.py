"""Coverage-guided fuzzing of the gateway's decoders with atheris (libFuzzer).

    python tests/gateway/fuzz_decoders.py teltonika -atheris_runs=1000000

Each target feeds arbitrary bytes to one decoder; anything but the decoder's own refusal
(`FrameError`, `Rejected`) is a crash that libFuzzer reports with the input that caused it.
Inputs that crashed are kept as regression tests in test_*.py (hypothesis `@example`s).
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports():
    from vigie.gateway import gt06, mqtt, osmand, teltonika, teltonika_udp
    from vigie.gateway.readings import Rejected, check
    from vigie.observation import TimeBounds

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
BOUNDS = TimeBounds()


def _checked(readings: list[dict[str, object]]) -> None:
    for record in readings:
        with contextlib.suppress(Rejected):
            check(record, NOW, BOUNDS)


def fuzz_teltonika(data: bytes) -> None:
    with contextlib.suppress(teltonika.FrameError):
        teltonika.decode_imei(data)
    with contextlib.suppress(teltonika.FrameError):
        teltonika.decode_message(data)  # Codec 12 replies
    # The CRC would stop nearly every input at the door: fuzz the data field behind it too.
    for decode in (teltonika.decode_packet, teltonika.decode_data):
        with contextlib.suppress(teltonika.FrameError):
            for record in decode(data).records:
                with contextlib.suppress(Rejected):
                    _checked(teltonika.readings_of("B1", record))


def fuzz_teltonika_udp(data: bytes) -> None:
    with contextlib.suppress(teltonika.FrameError):
        datagram = teltonika_udp.decode(data)  # AVL data, or a Codec 12 reply
        if isinstance(datagram, teltonika_udp.Datagram):
            for record in datagram.packet.records:
                with contextlib.suppress(Rejected):
                    _checked(teltonika.readings_of("B1", record))


def fuzz_gt06(data: bytes) -> None:
    # Behind the CRC as well: the same bytes framed with a valid one.
    frames = [data]
    if data:
        frames.append(gt06.encode_frame(data[0], data[1:], 1))
    for raw in frames:
        with contextlib.suppress(gt06.Gt06Error):
            frame = gt06.decode_frame(raw)
            for decode in (gt06.decode_login, gt06.decode_command):
                with contextlib.suppress(gt06.Gt06Error):
                    decode(frame.content)
            with contextlib.suppress(gt06.Gt06Error):
                _checked(gt06.readings_of("G1", frame) + gt06.status_readings("G1", NOW, frame))


def fuzz_osmand(data: bytes) -> None:
    with contextlib.suppress(Rejected):
        _checked(osmand.decode_json(data)[1])
    with contextlib.suppress(Rejected):
        _checked(osmand.decode_form(data.decode("latin-1"), NOW)[1])


def fuzz_mqtt(data: bytes) -> None:
    with contextlib.suppress(Rejected):
        _checked(mqtt.decode_message("vigie/devices/H1/obs", data)[1])


TARGETS = {
    "teltonika": fuzz_teltonika,
    "teltonika_udp": fuzz_teltonika_udp,
    "gt06": fuzz_gt06,
    "osmand": fuzz_osmand,
    "mqtt": fuzz_mqtt,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

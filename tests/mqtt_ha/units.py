"""A home unit as firmware would be: QoS 1, a list of brokers tried in turn, its unacknowledged
readings kept and sent again after reconnecting (paho keeps them in flight)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as paho

from vigie import clock
from vigie.gateway.mqtt import topic_for


class HomeUnit:
    def __init__(self, device: str, password: str, brokers: list[tuple[str, int]]) -> None:
        self.device = device
        self.brokers = brokers
        self._next = 0
        self.connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{device}-unit")
        self.client.username_pw_set(device, password)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = lambda *_: self._connect_next()
        self.client.on_publish = self._on_publish
        self.acked: dict[int, float] = {}  # seq -> seconds from its first publish to PUBACK
        self.sent: set[int] = set()
        self.disconnections: list[float] = []  # monotonic times, closing aside
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: Exception | None = None  # what ended `run`'s thread unexpectedly
        # PUBACKs by message id (paho's `on_publish`) not yet waited for. One given up waiting
        # for stays (it may be waited for again); paho gives its id again only after 65,535
        # other messages, more than a test publishes.
        self._pubacks = threading.Condition()
        self._acked_mids: set[int] = set()

    def _connect_next(self) -> None:
        host, port = self.brokers[self._next % len(self.brokers)]
        self._next += 1
        self.client.connect_async(host, port, keepalive=5)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        with self._pubacks:
            self._acked_mids.add(mid)
            self._pubacks.notify_all()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected.clear()
        if not self.stop.is_set():
            self.disconnections.append(time.monotonic())
            self._connect_next()

    def start(self) -> None:
        self._connect_next()
        self.client.loop_start()
        assert self.connected.wait(20), f"{self.device} could not connect"

    def close(self) -> None:
        """Stop publishing and disconnect; re-raises what ended `run`'s thread unexpectedly,
        so that the test fails on it."""
        self.stop.set()
        with self._pubacks:
            self._pubacks.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        if self._failure is not None:
            raise AssertionError(f"{self.device}: publishing failed") from self._failure

    def publish(self, seq: int, base: datetime) -> paho.MQTTMessageInfo:
        reading = {
            "t": (base + timedelta(seconds=seq)).isoformat(timespec="seconds"),
            "type": "power",
            "mains": seq % 2 == 0,
            "seq": seq,
        }
        self.sent.add(seq)
        return self.client.publish(topic_for(self.device), json.dumps(reading), qos=1)

    def acknowledged(self, info: paho.MQTTMessageInfo, timeout_s: float) -> bool:
        """Whether the broker acknowledged within `timeout_s` (paho resends it meanwhile).
        Published while offline (`MQTT_ERR_NO_CONN`: its node was killed between the unit's
        check and the publish), a QoS 1 message is kept by paho and sent once connected again:
        waited for the same way (a unit whose broker closed it just before the publish failed
        the quorum test by giving up at once). Its PUBACK is watched through `on_publish`, not
        `is_published`, which raises "Message publish failed" for such a message even once
        it is acknowledged (paho leaves its `rc` as it was at the publish)."""
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            return False  # not kept (paho's queue full): the caller publishes it again
        with self._pubacks:
            self._pubacks.wait_for(
                lambda: info.mid in self._acked_mids or self.stop.is_set(), timeout_s
            )
            if info.mid in self._acked_mids:
                self._acked_mids.discard(info.mid)
                return True
            return False

    def run(self, pause_s: float = 0.005) -> None:
        """Publish readings one after another, each once acknowledged, until `close`."""
        base = clock.now() - timedelta(hours=2)

        def loop() -> None:
            seq, first_try = 0, time.monotonic()
            try:
                while not self.stop.is_set():
                    if not self.connected.wait(0.2):
                        continue
                    if self.acknowledged(self.publish(seq, base), 60):
                        self.acked[seq] = time.monotonic() - first_try
                        time.sleep(pause_s)
                        seq, first_try = seq + 1, time.monotonic()
            except Exception as exc:  # unexpected: kept for `close`, which fails the test
                self._failure = exc

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

"""What a KV bucket holds now: its live keys and their values.

nats-py's `KeyValue.keys()` is not used for this, for two faults measured against our cluster
(nats-py 2.16, nats-server 2.15) while four leases were renewed:
- its listing ends at a marker that races with the messages: the marker is put when the
  consumer's info, which may come back before the messages, says nothing is pending. 28 of
  1,000 listings came back short, 21 of them empty: an API process then saw every partition
  unowned until its next poll (what failed CI once), and a worker saw them all free.
- each call leaves its consumer on the server for 5 minutes (nats-py's inactivity threshold;
  stopping the watch does not delete it). At 4 listings a second (two API processes and two
  workers at the defaults) the lease bucket reached the server's 1,000 consumers in 250 s,
  and listings were refused from then on: the API processes' view then ages until every
  partition is reported unwatched.

A consumer of our own made for each listing and deleted after it was tried too, and is not
exact either: with keys renewed while it is listed, the server's count of what is pending
skips a key whose message was replaced (a key missing in 4 of 300 listings).

So the stream's leader is asked which keys have a message (one request), then for each of
them its last message (concurrently), and the deleted and expired are dropped. No server
state is made, and each answer comes from the leader: exact for the moment it was asked.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

KV_OPERATION = "KV-Operation"
MARKER_REASON = "Nats-Marker-Reason"  # a message the server wrote: a key expired or purged
GONE = ("DEL", "PURGE")


def holds_value(message: RawStreamMsg) -> bool:
    """Whether a key's last message is a value (not a tombstone or the server's marker)."""
    headers = message.headers or {}
    return headers.get(KV_OPERATION) not in GONE and not headers.get(MARKER_REASON)


async def live_values(js: JetStreamContext, bucket: str, keys: str = ">") -> dict[str, bytes]:
    """The keys of `bucket` matching `keys` that hold a value now, with their values. Raises on
    any failure (no answer, no bucket): a listing is whole or it is not given."""
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(stream, subjects_filter=prefix + keys)
    subjects = sorted((info.state.subjects or {}) if info.state.messages else {})
    if not subjects:
        return {}

    async def last(subject: str) -> RawStreamMsg | None:
        try:
            return await js.get_last_msg(stream, subject)
        except NotFoundError:  # expired since the stream was asked
            return None

    found: dict[str, bytes] = {}
    for subject, message in zip(subjects, await asyncio.gather(*map(last, subjects)), strict=True):
        if message is not None and holds_value(message):
            found[subject.removeprefix(prefix)] = message.data or b""
    return found

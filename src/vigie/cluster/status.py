"""What `vigie cluster status` shows: the nodes and the stream's replicas, and per partition its
owner (vigie_leases) and what its worker reports (vigie_workers: cursor, lag)."""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from vigie.cluster.kv_listing import live_values
from vigie.cluster.topology import LEASES, STREAM, WORKERS, lease_key


async def _values(js: JetStreamContext, bucket: str) -> dict[str, dict[str, Any]]:
    try:
        found = await live_values(js, bucket)
    except NotFoundError:  # no such bucket yet
        return {}
    return {key: json.loads(value) for key, value in found.items() if value}


async def collect(js: JetStreamContext, partitions: int) -> dict[str, Any]:
    """The cluster's state as plain data (printed as a table or JSON)."""
    info = await js.stream_info(STREAM)
    cluster = info.cluster
    nodes = []
    if cluster is not None:
        nodes.append({"name": cluster.leader, "role": "leader", "current": True, "lag": 0})
        for replica in cluster.replicas or []:
            nodes.append(
                {
                    "name": replica.name,
                    "role": "follower",
                    "current": bool(replica.current),
                    "lag": replica.lag or 0,
                }
            )
    leases = await _values(js, LEASES)
    workers = await _values(js, WORKERS)
    reported: dict[int, dict[str, Any]] = {}
    for worker in workers.values():
        for partition, state in (worker.get("partitions") or {}).items():
            reported[int(partition)] = state
    rows = []
    for p in range(partitions):
        lease = leases.get(lease_key(p)) or {}
        state = reported.get(p, {})
        rows.append(
            {
                "partition": p,
                "owner": lease.get("worker"),
                "cursor": state.get("cursor"),
                "lag": state.get("lag"),
            }
        )
    return {
        "stream": {
            "name": STREAM,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_seq,
            "last_seq": info.state.last_seq,
        },
        "nodes": nodes,
        "workers": sorted(key.removeprefix("w.") for key in workers),
        "partitions": rows,
        "unowned": [row["partition"] for row in rows if row["owner"] is None],
    }

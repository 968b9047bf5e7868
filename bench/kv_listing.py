"""Benchmark of listing the held leases: `vigie.cluster.kv_listing.live_values` against nats-py's
`KeyValue.keys()` (the baseline, what the cluster used before), in one run on one cluster.

Starts 3 `nats-server` nodes on loopback (`vigie.cluster.local`), makes the buckets with P
partitions, takes every lease and renews them all without pause (the churn under which
`keys()` came back short), then lists the leases N times each way, one way after the other
(so the consumers left on the stream afterwards are that way's own). Records per way: ms per
listing (p50, p99), the listings that missed a held lease, the listings refused, the
consumers left on the lease bucket's stream, and the ratio of the p50s.

    .venv/bin/python bench/kv_listing.py [--partitions 64] [--listings 500] [--out FILE]

Writes bench/results/kv-listing.json with the commit measured. Not a test
(tests/cluster/test_kv_listing.py checks what a listing holds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pipeline import calibrate, commit

RESULTS = Path(__file__).with_name("results") / "kv-listing.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(urls: list[str], partitions: int, listings: int) -> dict[str, Any]:
    import nats
    from nats.js.errors import NoKeysError

    from vigie.cluster.kv_listing import live_values
    from vigie.cluster.leases import PartitionLeases, partition_of_key
    from vigie.cluster.topology import LEASES, Topology, ensure

    holder_link = await nats.connect(servers=urls)
    js = holder_link.jetstream()
    await ensure(js, Topology(partitions, 3, 3600.0, 1 << 30, 120.0, 10.0))
    holder = await PartitionLeases.open(js, "holder")
    revisions = {p: await holder.acquire(p) for p in range(partitions)}
    stopping = asyncio.Event()

    async def renew() -> None:
        while not stopping.is_set():
            for p, revision in revisions.items():
                assert revision is not None
                revisions[p] = (await holder.renew(p, revision)).revision
            await asyncio.sleep(0.01)

    renewing = asyncio.create_task(renew())
    reader_link = await nats.connect(servers=urls)
    reader = reader_link.jetstream()
    kv = await reader.key_value(LEASES)

    async def by_keys() -> set[int]:
        try:
            keys = await kv.keys()
        except NoKeysError:
            keys = []
        return {p for p in map(partition_of_key, keys) if p is not None}

    async def by_leader() -> set[int]:
        keys = await live_values(reader, LEASES, "p.>")
        return {p for p in map(partition_of_key, keys) if p is not None}

    ways: dict[str, Callable[[], Awaitable[set[int]]]] = {
        "nats_py_keys": by_keys,
        "live_values": by_leader,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    short = dict.fromkeys(ways, 0)
    failed = dict.fromkeys(ways, 0)
    consumers: dict[str, int] = {}
    held = set(range(partitions))
    for name, way in ways.items():  # each way alone, so the consumers it leaves are its own
        before = (await js.stream_info(f"KV_{LEASES}")).state.consumer_count
        for _ in range(listings):
            began = time.perf_counter()
            try:
                seen = await way()
            except Exception:
                failed[name] += 1
                continue
            times[name].append((time.perf_counter() - began) * 1000)
            short[name] += seen != held
        consumers[name] = (await js.stream_info(f"KV_{LEASES}")).state.consumer_count - before
    stopping.set()
    await renewing
    await reader_link.close()
    await holder_link.close()
    figures: dict[str, Any] = {}
    for name in ways:
        figures[name] = {
            "ms_p50": round(statistics.median(times[name]), 3) if times[name] else None,
            "ms_p99": round(percentile(times[name], 0.99), 3) if times[name] else None,
            "short_listings": short[name],
            "failed_listings": failed[name],
            "consumers_left": consumers[name],
        }
    base, new = figures["nats_py_keys"]["ms_p50"], figures["live_values"]["ms_p50"]
    figures["p50_ratio_live_values_to_keys"] = round(new / base, 3) if base and new else None
    return figures


def main() -> None:
    from vigie.cluster.local import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--listings", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    speed = calibrate()
    with LocalCluster() as cluster:
        cluster.wait_ready()
        figures = asyncio.run(run(cluster.urls, args.partitions, args.listings))
    result = {
        "commit": commit(),
        "machine": platform.platform(),
        "calibration_ms": round(speed, 2),
        "partitions": args.partitions,
        "listings_each": args.listings,
        "renewals": "every lease, without pause",
        **figures,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The seed's submit_jobs.py with picluster: a batch of CPU jobs with progress, then a per-node summary.

    python3 examples/submit_jobs.py [--jobs 40] [--size 200000] [--url http://master:8080] [--token T]

Each job counts the primes below `size` on a node (a Python function job, the dispy
"computation") and returns the count with the time it took there. While the batch runs a
progress bar shows (tqdm if installed); at the end a table per node: jobs, failures, summed
run time, summed CPU time (measured on the node) and peak memory.
"""
import argparse
import collections
import sys
import time

import _picluster_path  # noqa: F401
from picluster import Cluster, as_completed
from picluster.progress import Progress


def count_primes(limit):
    """Runs on a node (shipped as source)."""
    started = time.time()
    sieve = bytearray(limit + 1)
    primes = 0
    for i in range(2, limit + 1):
        if sieve[i]:
            continue
        primes += 1
        for j in range(i * i, limit + 1, i):
            sieve[j] = 1
    return {"limit": limit, "primes": primes, "seconds": time.time() - started}


def summarise(results):
    """results: JobResult objects → rows per node (sorted by name)."""
    rows = collections.OrderedDict()
    for r in sorted(results, key=lambda r: r.node or ""):
        row = rows.setdefault(r.node or "?", {"jobs": 0, "failed": 0, "ms": 0.0, "cpu_ms": 0.0, "peak_mb": 0.0})
        row["jobs"] += 1
        row["failed"] += 0 if r.succeeded else 1
        row["ms"] += r.duration_ms or 0
        row["cpu_ms"] += r.cpu_ms or 0
        row["peak_mb"] = max(row["peak_mb"], (r.peak_memory_bytes or 0) / 1e6)
    return rows


def print_table(rows, out=sys.stdout):
    out.write("%-16s %6s %7s %11s %11s %9s\n" % ("NODE", "JOBS", "FAILED", "RUN (s)", "CPU (s)", "PEAK MB"))
    for node, r in rows.items():
        out.write("%-16s %6d %7d %11.2f %11.2f %9.1f\n" % (node, r["jobs"], r["failed"], r["ms"] / 1000, r["cpu_ms"] / 1000, r["peak_mb"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description="submit a batch of CPU jobs and summarise per node")
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--size", type=int, default=200_000)
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--progress", choices=["auto", "on", "off"], default="auto")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    with Cluster(a.url, a.token) as cluster:
        jobs = cluster.submit_many(count_primes, [(a.size,)] * a.jobs, group="primes")
        bar = Progress(len(jobs), {"auto": None, "on": True, "off": False}[a.progress], desc="primes")
        results = []
        for job in as_completed(jobs):
            r = job.wait()
            results.append(r)
            bar.update(r.succeeded)
        bar.close()
    ok = [r for r in results if r.succeeded]
    print("%d jobs in %.1f s: %d succeeded, %d failed; primes below %d: %s" % (
        len(results), time.monotonic() - t0, len(ok), len(results) - len(ok), a.size, ok[0].value["primes"] if ok else "?"))
    print_table(summarise(results))
    return 0 if len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

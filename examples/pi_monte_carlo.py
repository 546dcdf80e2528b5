#!/usr/bin/env python3
"""A CPU job: estimate π by Monte Carlo, split into chunks that run on the nodes.

    python3 examples/pi_monte_carlo.py --chunks 16 --samples 2000000 [--url http://master:8080]

Each chunk throws `samples` random points into the unit square and counts those inside the
quarter circle; the client adds the counts up: π ≈ 4 · inside / total.
"""
import argparse
import random
import sys

import _picluster_path  # noqa: F401
from picluster import Cluster


def throw_darts(samples, seed):
    """Runs on a node (shipped as source): pure Python, stdlib only."""
    rng = random.Random(seed)
    inside = 0
    for _ in range(samples):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return {"inside": inside, "samples": samples}


def estimate(cluster, chunks, samples, progress=None):
    parts = cluster.map(throw_darts, [samples] * chunks, range(chunks), group="pi", progress=progress)
    inside = sum(p["inside"] for p in parts)
    total = sum(p["samples"] for p in parts)
    return 4.0 * inside / total, total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--samples", type=int, default=2_000_000)
    ap.add_argument("--url")
    ap.add_argument("--token")
    a = ap.parse_args(argv)
    with Cluster(a.url, a.token) as cluster:
        pi, total = estimate(cluster, a.chunks, a.samples, progress=True)
    print("pi ~ %.6f from %d samples in %d chunks" % (pi, total, a.chunks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

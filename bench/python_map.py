"""The Python side of bench/python-map.ts: the same map of small tasks through picluster and
through Dask distributed, in one run, with the same number of worker slots.

    /usr/bin/python3 bench/python_map.py --url URL --token T --tasks 1000 --slots 2

picluster: Cluster.map(inc, range(N)) against the master the .ts side started (local agents
whose slots add up to --slots); every task is a python job (its own python3 process on an
agent). Dask: a LocalCluster (scheduler + --slots worker processes with one thread each) on
loopback, client.map(inc, range(N)) + gather. Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python", "src"))


def inc(x):
    return x + 1


def run_picluster(url, token, n):
    from picluster import Cluster

    with Cluster(url, token) as c:
        c.map(inc, range(5), progress=False)  # warm: agents' python3 in the page cache
        t0 = time.perf_counter()
        out = c.map(inc, range(n), progress=False, group="bench")
        wall = time.perf_counter() - t0
    assert out == [x + 1 for x in range(n)], "wrong results"
    return wall


def run_dask(n, slots):
    t_start = time.perf_counter()
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=slots, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    ready = time.perf_counter() - t_start
    try:
        client.gather(client.map(inc, range(5), pure=False))  # warm
        t0 = time.perf_counter()
        out = client.gather(client.map(inc, range(n), pure=False))
        wall = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()
    assert out == [x + 1 for x in range(n)], "wrong results"
    return wall, ready


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=2)
    a = ap.parse_args()
    pc = run_picluster(a.url, a.token, a.tasks)
    dk, dk_ready = run_dask(a.tasks, a.slots)
    res = {
        "tasks": a.tasks,
        "slots": a.slots,
        "picluster": {"wallS": round(pc, 3), "tasksPerS": round(a.tasks / pc, 1), "perTaskMs": round(pc * 1000 * a.slots / a.tasks, 2)},
        "dask": {"wallS": round(dk, 3), "tasksPerS": round(a.tasks / dk, 1), "perTaskMs": round(dk * 1000 * a.slots / a.tasks, 2), "clusterStartS": round(dk_ready, 2)},
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()

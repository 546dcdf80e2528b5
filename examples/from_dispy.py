#!/usr/bin/env python3
"""README's "Coming from dispy" example, runnable: a computation submitted per argument, results as they complete.

    PICLUSTER_URL=http://master:8080 PICLUSTER_TOKEN=… python3 examples/from_dispy.py

dispy:                                       picluster:
  cluster = dispy.JobCluster(compute)          cluster = Cluster()   # $PICLUSTER_URL, $PICLUSTER_TOKEN
  jobs = [cluster.submit(n) for n in ns]       jobs = [cluster.submit(compute, n) for n in ns]
  for job in jobs: print(job())                for job in as_completed(jobs): print(job.result())
"""
import time

import _picluster_path  # noqa: F401
from picluster import Cluster, as_completed


def compute(n):  # runs on a node, like dispy's computation; `time` is shipped with it
    time.sleep(n)
    return {"slept": n}


if __name__ == "__main__":
    cluster = Cluster()
    jobs = [cluster.submit(compute, n, group="demo") for n in (0.3, 0.1, 0.2)]
    for job in as_completed(jobs):
        print(job.id, job.result(), job.wait().node)

"""The entry point: ``Cluster(url, token)``, then ``submit``, ``map``, ``as_completed``."""
from __future__ import annotations

import collections
import json
import os
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from ._http import Transport
from .errors import ClusterError, JobFailed
from .files import FileSpec, upload
from .job import Job, JobResult
from .progress import Progress, ProgressArg
from .source import build_python_job

RETRY_CAUSES = ("failure", "timeout", "node-lost", "rejected")
_MAX_BATCH_JOBS = 10_000
_MAX_BATCH_BYTES = 4 * 1024 * 1024  # well under the master's 8 MiB default body limit


def _read_token(data_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(data_dir, "admin-token"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


class Cluster:
    """A picluster master.

    ``url`` defaults to ``$PICLUSTER_URL`` (else ``http://127.0.0.1:8080``), ``token`` to
    ``$PICLUSTER_TOKEN``, else ``<data dir>/admin-token`` on the master itself.

    An ``https://`` master is verified against ``ca_file`` (a PEM CA, e.g. the ``ca.pem`` of
    ``picluster tls init``; default ``$PICLUSTER_CA``) or by ``pin``, the SHA-256 of its
    certificate (``sha256:<hex>``; default ``$PICLUSTER_PIN``), else by the system CAs. A bad
    file or pin raises TlsTrustError here; a master that fails the check raises TlsTrustError
    (``TLS_TRUST``) or TlsPinMismatch (``TLS_PIN_MISMATCH``) before any request is sent.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        data_dir: Optional[str] = None,
        timeout: float = 60.0,
        ca_file: Optional[str] = None,
        pin: Optional[str] = None,
    ) -> None:
        url = url or os.environ.get("PICLUSTER_URL") or "http://127.0.0.1:8080"
        if token is None:
            token = os.environ.get("PICLUSTER_TOKEN") or _read_token(data_dir or os.environ.get("PICLUSTER_DATA_DIR") or "./data")
        self.url = url.rstrip("/")
        if (ca_file or pin) and not self.url.startswith("https://"):
            raise ValueError("ca_file= and pin= verify an https:// master; %r is not one" % self.url)
        ca_file = ca_file or os.environ.get("PICLUSTER_CA") or None
        pin = pin or os.environ.get("PICLUSTER_PIN") or None
        self._t = Transport(self.url, token, timeout, ca_file=ca_file, pin=pin)
        self._uploaded: Dict[str, Dict[str, Any]] = {}

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    # ── building job bodies ────────────────────────────────────────────────────────────────
    def _body(
        self,
        what: Union[Sequence[str], Callable[..., Any]],
        args: Sequence[Any],
        *,
        kwargs: Optional[Mapping[str, Any]] = None,
        name: Optional[str] = None,
        priority: Optional[int] = None,
        group: Optional[str] = None,
        retries: Optional[int] = None,
        retry_on: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
        requirements: Optional[Mapping[str, Any]] = None,
        limits: Optional[Mapping[str, Any]] = None,
        env: Optional[Mapping[str, str]] = None,
        stdin: Optional[str] = None,
        depends: Sequence[Any] = (),
        files: Sequence[FileSpec] = (),
        _shipped: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        if isinstance(what, str):
            raise TypeError("submit() takes an argv list (['sh', '-c', %r]) or a function, not a string" % what)
        if callable(what):
            body: Dict[str, Any] = dict(_shipped) if _shipped is not None else build_python_job(what, depends)
            if args:
                body["args"] = list(args)
            if kwargs:
                body["kwargs"] = dict(kwargs)
            if stdin is not None:
                raise TypeError("stdin= belongs to argv jobs")
        else:
            argv = [str(a) for a in what] + [str(a) for a in args]
            if not argv:
                raise ValueError("submit() needs a non-empty argv")
            if depends or kwargs:
                raise TypeError("depends= and kwargs= belong to function jobs")
            body = {"kind": "exec", "argv": argv}
            if stdin is not None:
                body["stdin"] = stdin
        if retry_on is not None:
            bad = [c for c in retry_on if c not in RETRY_CAUSES]
            if bad:
                raise ValueError("retry_on takes %s; got %r" % (", ".join(RETRY_CAUSES), bad[0]))
        opts = {
            "name": name,
            "priority": priority,
            "group": group,
            "retries": retries,
            "retryOn": list(retry_on) if retry_on is not None else None,
            "timeoutMs": None if timeout is None else max(1, int(round(timeout * 1000))),
            "requirements": dict(requirements) if requirements else None,
            "limits": dict(limits) if limits else None,
            "env": dict(env) if env else None,
        }
        body.update({k: v for k, v in opts.items() if v is not None})
        if files:
            body["files"] = upload(self._t, files, self._uploaded)
        return body

    # ── submitting ─────────────────────────────────────────────────────────────────────────
    def submit(self, what: Union[Sequence[str], Callable[..., Any]], *args: Any, **options: Any) -> Job:
        """Submits one job and returns its handle (answered after the master committed it).

        ``what`` is an argv list (``["uname", "-a"]``; extra ``args`` are appended) or a function
        (``fn, 1, 2`` runs ``fn(1, 2)`` on a node with python3). Options (keyword only): ``kwargs``
        (the function's keyword arguments), ``name``, ``priority``, ``group``, ``retries``,
        ``retry_on`` (of ``failure``, ``timeout``, ``node-lost``, ``rejected``; default node-lost
        and rejected), ``timeout`` (seconds), ``requirements`` (``labels``, ``cpus``,
        ``memoryMb``, ``arch``, ``node``), ``limits`` (``memoryMb``, ``cpus``, ``pids``), ``env``,
        ``stdin`` (argv jobs), ``depends`` (dispy style: functions, classes, modules, .py paths),
        ``files`` (input files; needs a master with /api/files).
        """
        j = self._t.request("POST", "/api/jobs", self._body(what, args, **options))
        return Job(self, int(j["id"]), str(j["state"]))

    def submit_many(self, what: Union[Sequence[str], Callable[..., Any]], arg_tuples: Iterable[Sequence[Any]], **options: Any) -> List[Job]:
        """Submits ``what(*t)`` for every tuple in batches (one request per few thousand jobs); handles in order."""
        shipped = build_python_job(what, options.pop("depends", ())) if callable(what) and not isinstance(what, str) else None
        bodies = [self._body(what, tuple(t), _shipped=shipped, **options) for t in arg_tuples]
        jobs: List[Job] = []
        batch: List[Dict[str, Any]] = []
        size = 0

        def flush() -> None:
            nonlocal batch, size
            if batch:
                for j in self._t.request("POST", "/api/jobs", batch, timeout_s=300.0):
                    jobs.append(Job(self, int(j["id"]), str(j["state"]), index=len(jobs)))
            batch, size = [], 0

        for b in bodies:
            n = len(json.dumps(b))
            if batch and (len(batch) >= _MAX_BATCH_JOBS or size + n > _MAX_BATCH_BYTES):
                flush()
            batch.append(b)
            size += n
        flush()
        return jobs

    def map(
        self,
        fn: Union[Sequence[str], Callable[..., Any]],
        *iterables: Iterable[Any],
        progress: ProgressArg = None,
        return_exceptions: bool = False,
        **options: Any,
    ) -> List[Any]:
        """``[fn(*xs) for xs in zip(*iterables)]`` on the cluster, results in order.

        Raises the first (in input order) :class:`JobFailed` once all jobs have ended, unless
        ``return_exceptions`` puts the JobFailed in the list instead. ``progress``: None shows a
        bar (tqdm if installed) for 10+ jobs on a terminal; True/False force it; a callable gets
        ``(done, total, failed)``.
        """
        jobs = self.submit_many(fn, zip(*iterables), **options)
        results: List[Any] = [None] * len(jobs)
        failures: Dict[int, JobFailed] = {}
        bar = Progress(len(jobs), progress)
        try:
            for job in as_completed(jobs):
                r = job.wait()
                if r.succeeded:
                    results[job.index or 0] = job.result()
                else:
                    failures[job.index or 0] = JobFailed(r)
                bar.update(r.succeeded)
        finally:
            bar.close()
        if failures and not return_exceptions:
            raise failures[min(failures)]
        for i, f in failures.items():
            results[i] = f
        return results

    def as_completed(self, jobs: Iterable[Job], timeout: Optional[float] = None) -> Iterator[Job]:
        return as_completed(jobs, timeout)

    # ── reading ────────────────────────────────────────────────────────────────────────────
    def job(self, job_id: int) -> Job:
        j = Job(self, int(job_id))
        j.info()
        return j

    def jobs(self, state: Optional[str] = None, group: Optional[str] = None, node: Optional[str] = None, limit: int = 100) -> List[Dict[str, Any]]:
        q = "&".join("%s=%s" % (k, v) for k, v in (("state", state), ("group", group), ("node", node), ("limit", limit)) if v is not None)
        return list(self._t.request("GET", "/api/jobs?" + q)["jobs"])

    def nodes(self) -> List[Dict[str, Any]]:
        return list(self._t.request("GET", "/api/nodes"))

    def counts(self) -> Dict[str, int]:
        return dict(self._t.request("GET", "/api/jobs/status"))


def as_completed(jobs: Iterable[Job], timeout: Optional[float] = None, *, waiters: int = 8) -> Iterator[Job]:
    """Yields the jobs as they end (like ``dask.distributed.as_completed``). Raises TimeoutError
    if ``timeout`` seconds pass before all have ended.

    A few threads long-poll the master, each taking the next unfinished job round-robin, so many
    thousands of jobs need only a handful of connections.
    """
    pending = collections.deque(jobs)
    total = len(pending)
    if total == 0:
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    out: "queue.Queue[Union[Job, BaseException]]" = queue.Queue()
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        transports = set()
        try:
            while not stop.is_set():
                with lock:
                    if not pending:
                        return
                    job = pending.popleft()
                transports.add(job.cluster._t)
                try:
                    # short polls while many jobs wait, so one long job does not hold up the others
                    wait_ms = 1000 if len(pending) > waiters else 20_000
                    if job._poll(wait_ms) is not None:
                        out.put(job)
                    else:
                        with lock:
                            pending.append(job)
                except BaseException as e:  # noqa: BLE001 - handed to the consumer
                    out.put(e)
                    return
        finally:
            for t in transports:
                t.close()  # this thread's keep-alive connection

    threads = [threading.Thread(target=worker, daemon=True, name="picluster-wait-%d" % i) for i in range(min(waiters, total))]
    for t in threads:
        t.start()
    try:
        for _ in range(total):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = out.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("%d of %d jobs still running after %.1f s" % (total - _, total, timeout or 0.0)) from None
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


__all__ = ["Cluster", "as_completed", "ClusterError", "JobResult"]

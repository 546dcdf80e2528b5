"""A submitted job: wait for it, get its result, its output, cancel it."""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from .errors import ClusterError, JobFailed

if TYPE_CHECKING:
    from .cluster import Cluster

FINAL_STATES = ("succeeded", "failed", "cancelled")
# One long-poll of GET /api/jobs/<id>/wait; the master allows up to 300 s.
_POLL_MS = 20_000


@dataclass(frozen=True)
class Output:
    stdout: str
    stderr: str
    running: bool


@dataclass(frozen=True)
class Artifact:
    """A file the job wrote under ``$PICLUSTER_OUT``, stored on the master."""

    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class JobResult:
    """A job's end as the master recorded it (``state`` is final)."""

    id: int
    state: str
    kind: str
    attempts: int
    node: Optional[str] = None
    reason: Optional[str] = None
    exit_code: Optional[int] = None
    signal: Optional[str] = None
    value: Any = None
    has_value: bool = False
    error: Optional[str] = None
    duration_ms: Optional[float] = None
    cpu_ms: Optional[float] = None
    peak_memory_bytes: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    @staticmethod
    def from_api(j: Dict[str, Any]) -> "JobResult":
        r = j.get("result") or {}
        return JobResult(
            id=int(j["id"]),
            state=str(j["state"]),
            kind=str(j.get("kind", "")),
            attempts=int(j.get("attempts", 0)),
            node=j.get("node"),
            reason=j.get("reason"),
            exit_code=r.get("exitCode"),
            signal=r.get("signal"),
            value=r.get("value"),
            has_value="value" in r,
            error=r.get("error"),
            duration_ms=r.get("durationMs"),
            cpu_ms=r.get("cpuMs"),
            peak_memory_bytes=r.get("peakMemoryBytes"),
            raw=j,
        )


class Job:
    """A handle on a submitted job (like a Dask future or a dispy DispyJob)."""

    def __init__(self, cluster: "Cluster", job_id: int, state: str = "queued", index: Optional[int] = None) -> None:
        self.cluster = cluster
        self.id = job_id
        self._state = state
        self._final: Optional[JobResult] = None
        #: position in a map()/submit_many() batch
        self.index = index

    def __repr__(self) -> str:
        return "<picluster.Job %d %s>" % (self.id, self.state)

    @property
    def state(self) -> str:
        """The last state seen (no request once the job has ended)."""
        return self._final.state if self._final else self._state

    def info(self) -> Dict[str, Any]:
        """``GET /api/jobs/<id>``: the job with its attempts and result."""
        j: Dict[str, Any] = self.cluster._t.request("GET", "/api/jobs/%d" % self.id)
        self._observe(j)
        return j

    def done(self) -> bool:
        if self._final is None:
            self._poll(0)
        return self._final is not None

    def _observe(self, j: Dict[str, Any]) -> None:
        self._state = j["state"]
        if j["state"] in FINAL_STATES and (j.get("result") is not None or j.get("attempts", 0) == 0 or j.get("done")):
            self._final = JobResult.from_api(j)

    def _poll(self, timeout_ms: int) -> Optional[JobResult]:
        """One long-poll of at most ``timeout_ms``; the final result, or None."""
        if self._final is None:
            j = self.cluster._t.request("GET", "/api/jobs/%d/wait?timeoutMs=%d" % (self.id, timeout_ms), timeout_s=timeout_ms / 1000 + 30)
            self._observe(j)
        return self._final

    def wait(self, timeout: Optional[float] = None) -> JobResult:
        """Waits until the job has ended (any final state) and returns how. Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left_ms = _POLL_MS if deadline is None else int(max(0.0, deadline - time.monotonic()) * 1000)
            final = self._poll(min(_POLL_MS, left_ms))
            if final is not None:
                return final
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("job %d is still %s after %.1f s" % (self.id, self._state, timeout or 0.0))

    def result(self, timeout: Optional[float] = None) -> Any:
        """The function's return value (python and function jobs) or the stdout text (exec jobs).

        Raises :class:`JobFailed` when the job did not succeed (for a Python job that raised,
        with the remote traceback), TimeoutError when ``timeout`` seconds pass first.
        """
        r = self.wait(timeout)
        if r.state != "succeeded":
            raise JobFailed(r)
        if r.has_value or r.kind in ("python", "function"):
            return r.value
        return self.output().stdout

    def exception(self, timeout: Optional[float] = None) -> Optional[JobFailed]:
        r = self.wait(timeout)
        return None if r.state == "succeeded" else JobFailed(r)

    def output(self) -> Output:
        """stdout/stderr of the current or last attempt (live while it runs)."""
        o = self.cluster._t.request("GET", "/api/jobs/%d/output" % self.id)
        return Output(stdout=o.get("stdout", ""), stderr=o.get("stderr", ""), running=bool(o.get("running")))

    def cancel(self) -> bool:
        """Cancels the job (a running one is killed on its node). False if it had already ended."""
        if self._final is not None:
            return False
        try:
            j = self.cluster._t.request("DELETE", "/api/jobs/%d" % self.id)
        except ClusterError as e:
            if e.code == "JOB_FINISHED":
                return False
            raise
        self._state = j["state"]
        return True

    def artifacts(self) -> List[Artifact]:
        """The files the job's last attempt wrote under ``$PICLUSTER_OUT`` (see ``artifacts_note()`` for any left out)."""
        j = self.cluster._t.request("GET", "/api/jobs/%d/artifacts" % self.id)
        return [Artifact(str(a["name"]), str(a["sha256"]), int(a["sizeBytes"])) for a in j["artifacts"]]

    def artifacts_note(self) -> Optional[str]:
        """Why some artifacts were left out (over the per-job bounds, an upload that failed), or None."""
        note = self.cluster._t.request("GET", "/api/jobs/%d/artifacts" % self.id).get("note")
        return None if note is None else str(note)

    def download(self, name: str, to: Union[str, "os.PathLike[str]", None] = None) -> bytes:
        """One artifact's bytes (hash-checked); also written to ``to`` (a file, or a directory to put it in) when given."""
        want = next((a for a in self.artifacts() if a.name == name), None)
        if want is None:
            raise ClusterError(404, "FILE_NOT_FOUND", "job %d has no artifact named %r" % (self.id, name))
        data: bytes = self.cluster._t.request("GET", "/api/jobs/%d/artifacts/%s" % (self.id, name), binary=True, timeout_s=600.0)
        got = hashlib.sha256(data).hexdigest()
        if got != want.sha256:
            raise ClusterError(0, "FILE_HASH_MISMATCH", "artifact %s of job %d: expected sha256 %s, got %s" % (name, self.id, want.sha256, got))
        if to is not None:
            path = os.fspath(to)
            if os.path.isdir(path):
                path = os.path.join(path, os.path.basename(name))
            with open(path, "wb") as f:
                f.write(data)
        return data

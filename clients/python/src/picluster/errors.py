"""Exceptions. Every API error carries the master's stable ``code`` and its message."""
from __future__ import annotations

from typing import Any, Optional


class ClusterError(Exception):
    """The master refused a request or could not be reached.

    ``status`` is the HTTP status (0 when the master could not be reached), ``code`` the stable
    error code (``VALIDATION_FAILED``, ``JOB_NOT_FOUND``, ``UNAUTHORIZED``, ``UNREACHABLE``, …),
    ``field`` the offending field of a validation error (``retryOn[0]``, ``[3].priority``).
    """

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__("%s: %s" % (code, message))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class TlsTrustError(ClusterError):
    """The https master could not be verified (code ``TLS_TRUST``): its certificate is not signed by
    ``ca_file`` (or the system CAs) or does not name the host, or ``ca_file``/``pin`` is unusable.
    ``status`` is 0: no request was sent."""

    def __init__(self, message: str, code: str = "TLS_TRUST") -> None:
        super().__init__(0, code, message)


class TlsPinMismatch(TlsTrustError):
    """The master's certificate does not hash to ``pin`` (code ``TLS_PIN_MISMATCH``); the message
    names both fingerprints. No byte of the request was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "TLS_PIN_MISMATCH")


class FilesUnsupported(ClusterError):
    """``files=`` was given but this master has no ``/api/files`` endpoint (input files arrive in a later version)."""


class JobFailed(Exception):
    """A job ended without succeeding (failed, cancelled, timed out, node lost beyond its retries).

    ``error`` is the agent's error text; for a Python job that raised it is the remote traceback,
    and ``remote_type`` is the exception's class name (``ValueError``).
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self.job_id: int = result.id
        self.state: str = result.state
        self.reason: Optional[str] = result.reason
        self.error: Optional[str] = result.error
        self.exit_code: Optional[int] = result.exit_code
        self.node: Optional[str] = result.node
        self.remote_type: Optional[str] = _exception_type(result.error)
        super().__init__(_describe(result.id, result.state, result.reason, result.error))


def _describe(job_id: int, state: str, reason: Optional[str], error: Optional[str]) -> str:
    lines = (reason or "").strip().splitlines()
    text = "job %d %s" % (job_id, state) + (": " + lines[-1] if lines else "")
    if error and error.strip() and error.strip() != (lines[-1] if lines else None):
        text += "\n" + error.rstrip()
    return text


def _exception_type(error: Optional[str]) -> Optional[str]:
    if not error or not error.startswith("Traceback"):
        return None
    last = error.rstrip().splitlines()[-1]
    name = last.split(":", 1)[0].strip()
    return name.rsplit(".", 1)[-1] if name.replace(".", "").replace("_", "").isalnum() else None

"""HTTP transport: JSON over http.client, one keep-alive connection per thread, errors as ClusterError."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from typing import IO, Any, Dict, Optional, Union
from urllib.parse import urlsplit

from ._tls import PinnedHTTPSConnection, load_trust
from .errors import ClusterError, TlsTrustError

# fastify closes idle keep-alive sockets after 72 s; a connection idle longer than this is
# replaced before a request is sent, so a POST is never sent into a socket the server closed.
_IDLE_REOPEN_S = 4.0


class Transport:
    def __init__(self, url: str, token: Optional[str], timeout_s: float = 60.0, *, ca_file: Optional[str] = None, pin: Optional[str] = None) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the master URL must be http://host:port or https://host:port (got %r)" % url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout_s
        self._local = threading.local()
        # https: verified by ca_file or pin (a bad one raises TlsTrustError here); http ignores them
        self._context: Optional[ssl.SSLContext] = None
        self._pin: Optional[str] = None
        if self._https:
            self._context, self._pin = load_trust(ca_file, pin)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: Optional[http.client.HTTPConnection] = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - getattr(self._local, "used", 0.0) > _IDLE_REOPEN_S:
            conn.close()
            conn = None
        if conn is None:
            if self._https:
                assert self._context is not None
                conn = PinnedHTTPSConnection(self._host, self._port, timeout=timeout, context=self._context, pin=self._pin)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: Union[bytes, IO[bytes], None] = None,
        headers: Optional[Dict[str, str]] = None,
        timeout_s: Optional[float] = None,
        binary: bool = False,
    ) -> Any:
        """Sends one request; returns the parsed JSON body. Raises ClusterError."""
        hdrs = {"accept": "application/json"}
        if self._token:
            hdrs["authorization"] = "Bearer " + self._token
        data: Union[bytes, IO[bytes], None] = raw
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            hdrs["content-type"] = "application/json"
        hdrs.update(headers or {})
        idempotent = method in ("GET", "HEAD", "DELETE")
        for attempt in (1, 2):
            conn = self._connection(timeout_s if timeout_s is not None else self._timeout)
            try:
                conn.request(method, self._prefix + path, body=data, headers=hdrs)
                resp = conn.getresponse()
                text = resp.read()
                self._local.used = time.monotonic()
                break
            except TlsTrustError:
                self._drop()
                raise
            except ssl.SSLCertVerificationError as e:
                self._drop()
                raise TlsTrustError(
                    "the master at %s is not trusted: %s (pass ca_file= the CA of `picluster tls init`, or pin=; env PICLUSTER_CA / PICLUSTER_PIN)"
                    % (self.url, e.verify_message or e.reason or e)
                ) from e
            except ssl.SSLError as e:
                self._drop()
                raise ClusterError(
                    0, "UNREACHABLE", "the TLS handshake with %s failed: %s (does the master serve https on this port?)" % (self.url, e.reason or e)
                ) from e
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self._drop()
                if attempt == 1 and idempotent:
                    continue
                hint = "" if self._https else " (if the master serves https, use an https:// URL)"
                raise ClusterError(0, "UNREACHABLE", "the master at %s closed the connection during %s %s: %s%s" % (self.url, method, path, e, hint)) from e
            except socket.timeout as e:
                self._drop()
                raise ClusterError(0, "TIMEOUT", "the master at %s did not answer %s %s in time" % (self.url, method, path)) from e
            except OSError as e:
                self._drop()
                raise ClusterError(
                    0,
                    "UNREACHABLE",
                    "cannot reach the master at %s: %s (is `picluster master` running? set PICLUSTER_URL)" % (self.url, e),
                ) from e
        if binary and resp.status < 400:
            return text
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            raise ClusterError(
                resp.status,
                "NOT_PICLUSTER",
                "%s answered %s %s with something that is not picluster's JSON (wrong URL or port?)" % (self.url, method, path),
            ) from None
        if resp.status >= 400:
            err = parsed if isinstance(parsed, dict) else {}
            raise ClusterError(
                resp.status,
                str(err.get("code") or "HTTP_%d" % resp.status),
                str(err.get("message") or "%s %s answered %d" % (method, path, resp.status)),
                err.get("field"),
            )
        return parsed

    def close(self) -> None:
        self._drop()

"""How the client verifies an https master: a CA file (normal chain and host name checks) or a
pin, the SHA-256 fingerprint of the server certificate (``sha256:<64 hex>``; colons and case as
openssl prints them are accepted) -- the same format as the agent's ``--tls-pin`` and the CLI's
``--pin``. A pin replaces the chain check: the connection is refused unless the certificate the
master presents hashes to it, checked after the handshake and before any byte of the request."""
from __future__ import annotations

import hashlib
import http.client
import re
import ssl
from typing import Any, Optional, Tuple

from .errors import TlsTrustError, TlsPinMismatch

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalize_pin(text: str, what: str = "pin") -> str:
    """``sha256:AB:CD…``, ``AB:CD…``, ``abcd…`` -> ``sha256:abcd…``; anything else raises TlsTrustError."""
    hex_ = re.sub(r"^sha256[:/]", "", text.strip(), flags=re.IGNORECASE).replace(":", "").lower()
    if not _HEX64.match(hex_):
        raise TlsTrustError("%s must be a SHA-256 fingerprint (sha256:<64 hex digits>), got %r" % (what, text))
    return "sha256:" + hex_


def pin_of(der: bytes) -> str:
    """The pin of a DER certificate."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_trust(ca_file: Optional[str], pin: Optional[str], names: Tuple[str, str] = ("ca_file", "pin")) -> Tuple[ssl.SSLContext, Optional[str]]:
    """The SSL context and normalised pin for ``ca_file``/``pin`` (neither = the system CAs).
    A bad CA file or pin raises TlsTrustError naming it, before any request."""
    norm = normalize_pin(pin, names[1]) if pin else None
    if ca_file:
        try:
            with open(ca_file, encoding="utf-8") as f:
                pem = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise TlsTrustError("%s %s: %s" % (names[0], ca_file, e.strerror if isinstance(e, OSError) and e.strerror else e)) from e
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise TlsTrustError("%s %s holds no PEM certificate" % (names[0], ca_file))
    if norm:
        # the pin is the check; the chain of a self-signed master is not
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_file:
        try:
            ctx = ssl.create_default_context(cafile=ca_file)
        except ssl.SSLError as e:
            raise TlsTrustError("%s %s: %s" % (names[0], ca_file, e)) from e
    else:
        ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx, norm


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPSConnection that, with a pin, checks the server certificate right after the handshake."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext, pin: Optional[str]) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._pin = pin

    def connect(self) -> None:
        super().connect()
        if self._pin is None:
            return
        sock: Any = self.sock
        der = sock.getpeercert(binary_form=True) if sock is not None else None
        got = pin_of(der) if der else None
        if got != self._pin:
            self.close()
            raise TlsPinMismatch("certificate pin mismatch: expected %s, got %s" % (self._pin, got or "no certificate"))

"""Input files for jobs (``files=``), content-addressed by SHA-256.

The master side is described in docs/files.md; the contract this client relies on:

* ``GET /api/files/<sha256>`` → 200 ``{"sha256", "sizeBytes"}`` when the master has it, 404 with
  code ``FILE_NOT_FOUND`` when it does not;
* ``POST /api/files`` with the raw bytes (``content-type: application/octet-stream``,
  ``x-picluster-sha256: <hex>``, ``x-picluster-name: <file name>``) → 201 (or 200 when it was
  already there) ``{"sha256", "sizeBytes"}``; the master checks the hash and its size limit;
* a job names its files as ``"files": [{"name": "data.csv", "sha256": "…", "sizeBytes": 123}]``,
  and the agent fetches each into the job's scratch dir under ``name``.

An older master without the route answers ``NOT_FOUND`` and ``files=`` raises
:class:`FilesUnsupported` before anything is submitted.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any, Dict, List, Sequence, Tuple, Union

from ._http import Transport
from .errors import ClusterError, FilesUnsupported

PathLike = Union[str, "os.PathLike[str]"]
FileSpec = Union[PathLike, Tuple[str, PathLike]]
_NAME = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,254}$")


def sha256_file(path: PathLike) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def normalise(files: Sequence[FileSpec]) -> List[Tuple[str, str]]:
    """→ [(name in the job's scratch dir, local path)]; a bare path keeps its base name."""
    out: List[Tuple[str, str]] = []
    for f in files:
        if isinstance(f, tuple):
            name, path = f[0], os.fspath(f[1])
        else:
            path = os.fspath(f)
            name = os.path.basename(path)
        if not _NAME.match(name) or ".." in name.split("/"):
            raise ValueError("files: %r is not a usable file name in the job's directory" % name)
        if not os.path.isfile(path):
            raise FileNotFoundError("files: %s does not exist or is not a file" % path)
        if any(n == name for n, _ in out):
            raise ValueError("files: two files named %s" % name)
        out.append((name, path))
    return out


def _unsupported(e: ClusterError) -> FilesUnsupported:
    return FilesUnsupported(
        e.status,
        "FILES_UNSUPPORTED",
        "this master has no /api/files endpoint, so jobs cannot take input files yet (a later picluster version adds it); submit without files=",
    )


def upload(transport: Transport, files: Sequence[FileSpec], cache: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Uploads what the master does not have yet; → the job's ``files`` field. ``cache`` maps local paths already uploaded in this session."""
    refs: List[Dict[str, Any]] = []
    for name, path in normalise(files):
        key = os.path.abspath(path)
        known = cache.get(key)
        if known is None:
            digest, size = sha256_file(path)
            try:
                transport.request("GET", "/api/files/" + digest)
            except ClusterError as e:
                if e.status == 404 and e.code == "FILE_NOT_FOUND":
                    with open(path, "rb") as body:
                        transport.request(
                            "POST",
                            "/api/files",
                            raw=body,
                            headers={
                                "content-type": "application/octet-stream",
                                "content-length": str(size),
                                "x-picluster-sha256": digest,
                                "x-picluster-name": os.path.basename(path),
                            },
                            timeout_s=600.0,
                        )
                elif e.status in (404, 405) and e.code in ("NOT_FOUND", "HTTP_404", "HTTP_405"):
                    raise _unsupported(e) from None
                else:
                    raise
            known = {"sha256": digest, "sizeBytes": size}
            cache[key] = known
        refs.append({"name": name, **known})
    return refs

"""A minimal PEP 517/660 build backend for a pure-Python, stdlib-only package (see pyproject.toml
for why it is not setuptools). Builds a py3-none-any wheel from src/<package>, an sdist, and an
editable wheel (a .pth file pointing at src/). Metadata comes from pyproject.toml [project].
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        data = f.read()
    try:
        import tomllib  # Python >= 3.11

        return tomllib.loads(data.decode("utf-8"))["project"]
    except ImportError:
        # Python < 3.11: the [project] table's simple `key = "value"` lines are enough here.
        text = data.decode("utf-8")
        section = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^(\w[\w-]*)\s*=\s*"([^"]*)"', section, re.M))


def _metadata():
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        "Name: " + p["name"],
        "Version: " + p["version"],
        "Summary: " + p.get("description", ""),
        "Requires-Python: " + p.get("requires-python", ">=3.8"),
        "License: MIT",
        "Provides-Extra: progress",
        'Requires-Dist: tqdm; extra == "progress"',
        "Description-Content-Type: text/markdown",
    ]
    readme = os.path.join(ROOT, "README.md")
    body = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    return p["name"], p["version"], "\n".join(lines) + "\n\n" + body


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def _write_wheel(wheel_directory, files):
    name, version, metadata = _metadata()
    dist_info = "%s-%s.dist-info" % (name, version)
    files = list(files) + [
        (dist_info + "/METADATA", metadata.encode("utf-8")),
        (dist_info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: picluster-backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (dist_info + "/top_level.txt", (name + "\n").encode()),
    ]
    record = [_record_line(p, d) for p, d in files] + [dist_info + "/RECORD,,"]
    files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    filename = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def _package_files():
    name = _project()["name"]
    src = os.path.join(ROOT, "src")
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(src, name)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".typed", ".pyi")):
                full = os.path.join(dirpath, fn)
                with open(full, "rb") as f:
                    out.append((os.path.relpath(full, src).replace(os.sep, "/"), f.read()))
    return out


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _project()["name"]
    pth = (os.path.join(ROOT, "src") + "\n").encode()
    return _write_wheel(wheel_directory, [("__editable__.%s.pth" % name, pth)])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = "%s-%s" % (name, version)
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname, data):
            info = tarfile.TarInfo(base + "/" + arcname)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1577836800
            tar.addfile(info, io.BytesIO(data))

        add("PKG-INFO", metadata.encode("utf-8"))
        for rel in ["pyproject.toml", "README.md", "_build/backend.py"]:
            full = os.path.join(ROOT, rel)
            if os.path.exists(full):
                add(rel, open(full, "rb").read())
        for rel, data in _package_files():
            add("src/" + rel, data)
    return filename

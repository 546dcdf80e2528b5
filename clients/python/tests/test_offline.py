"""Client pieces that need no master: shipping source, errors, the HTTP transport and the
files= upload path, the last two against small HTTP servers on loopback that this test starts."""
import hashlib
import http.server
import json
import math
import os
import os.path
import sys
import tempfile
import threading
import unittest
from os.path import join as path_join

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers_for_tests  # noqa: E402
from helpers_for_tests import Box, triple  # noqa: E402

from picluster import Cluster, ClusterError, FilesUnsupported, JobFailed, ShippingError  # noqa: E402
from picluster.job import JobResult  # noqa: E402
from picluster.source import build_python_job  # noqa: E402


def uses_globals(a):
    return math.sqrt(a) + len(path_join("a", "b")) + helpers_for_tests.triple(1)


def uses_depends(x):
    return triple(x) + Box(x).v


def plain(x):
    return x


LIMIT = 10
TABLE = {"a": [1, 2]}


def uses_constants(k):
    return TABLE[k][0] + LIMIT


def uses_unshippable():
    return OPEN_FILE.name  # noqa: F821 - set below


OPEN_FILE = sys.stdin


def calls_plain(x):
    return plain(x)


class SourceShipping(unittest.TestCase):
    def run_shipped(self, job, *args):
        """Executes the shipped source in a fresh namespace, as the node would (modules from depends importable)."""
        ns = {}
        with tempfile.TemporaryDirectory() as d:
            for m in job.get("depends", []):
                with open(os.path.join(d, m["name"]), "w") as f:
                    f.write(m["source"])
            sys.path.insert(0, d)
            saved = {k: sys.modules.pop(k) for k in [m["name"][:-3] for m in job.get("depends", [])] if k in sys.modules}
            try:
                exec(compile(job["source"], "<shipped>", "exec"), ns)
                return ns[job["function"]](*args)
            finally:
                sys.path.remove(d)
                sys.modules.update(saved)

    def test_a_function_ships_with_the_modules_it_uses_through_globals(self):
        job = build_python_job(uses_globals, depends=[helpers_for_tests])
        self.assertEqual(job["kind"], "python")
        self.assertEqual(job["function"], "uses_globals")
        self.assertIn("import math\n", job["source"])
        self.assertIn("from posixpath import join as path_join\n", job["source"])
        self.assertIn("import helpers_for_tests\n", job["source"])  # shipped beside it, and imported
        self.assertNotIn("import triple", job["source"])  # .triple is an attribute here, not a global
        self.assertEqual([m["name"] for m in job["depends"]], ["helpers_for_tests.py"])
        self.assertEqual(self.run_shipped(job, 16), 4.0 + 3 + 3)

    def test_functions_and_classes_in_depends_ship_in_the_same_module(self):
        job = build_python_job(uses_depends, depends=[triple, Box])
        self.assertNotIn("depends", job)
        self.assertIn("def triple", job["source"])
        self.assertIn("class Box", job["source"])
        self.assertEqual(self.run_shipped(job, 2), 8)

    def test_plain_constants_are_inlined_and_other_globals_refused(self):
        job = build_python_job(uses_constants)
        self.assertIn("LIMIT = 10\n", job["source"])
        self.assertEqual(self.run_shipped(job, "a"), 11)
        with self.assertRaisesRegex(ShippingError, "global OPEN_FILE"):
            build_python_job(uses_unshippable)
        with self.assertRaisesRegex(ShippingError, "uses plain, defined beside it: add it to depends"):
            build_python_job(calls_plain)
        self.assertEqual(self.run_shipped(build_python_job(calls_plain, depends=[plain]), 5), 5)

    def test_a_py_path_in_depends_ships_as_a_module(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "mod_x.py")
            with open(p, "w") as f:
                f.write("V = 7\n")
            job = build_python_job(plain, depends=[p])
        self.assertEqual(job["depends"], [{"name": "mod_x.py", "source": "V = 7\n"}])

    def test_what_cannot_be_shipped_says_why(self):
        def inner(x):
            return x

        k = 3

        def closure(x):
            return x + k

        for fn, why in [
            (lambda x: x, "lambda"),
            (inner, "defined inside"),
            (closure, "defined inside"),
            (len, "function defined with def"),
        ]:
            with self.assertRaisesRegex(ShippingError, why):
                build_python_job(fn)
        with self.assertRaisesRegex(ShippingError, "package"):
            build_python_job(plain, depends=[unittest])
        with self.assertRaisesRegex(ShippingError, "files="):
            build_python_job(plain, depends=["data.csv"])

    def test_a_string_is_not_an_argv(self):
        c = Cluster("http://127.0.0.1:9", token="t")
        self.addCleanup(c.close)
        with self.assertRaisesRegex(TypeError, "argv list"):
            c.submit("uname -a")
        with self.assertRaisesRegex(ValueError, "retry_on"):
            c.submit(["true"], retry_on=["always"])


class Errors(unittest.TestCase):
    def test_job_failed_carries_the_remote_traceback_and_type(self):
        tb = 'Traceback (most recent call last):\n  File "x.py", line 2, in f\nValueError: bad 5\n'
        r = JobResult(id=9, state="failed", kind="python", attempts=1, reason=tb, error=tb, exit_code=1, node="n1")
        e = JobFailed(r)
        self.assertEqual(e.remote_type, "ValueError")
        self.assertTrue(str(e).startswith("job 9 failed: ValueError: bad 5\nTraceback"))
        self.assertEqual((e.job_id, e.exit_code, e.node), (9, 1, "n1"))
        plain_exit = JobFailed(JobResult(id=3, state="failed", kind="exec", attempts=1, reason="exit code 3", error="exit code 3", exit_code=3))
        self.assertEqual(str(plain_exit), "job 3 failed: exit code 3")
        self.assertIsNone(plain_exit.remote_type)


class _Server:
    """A loopback HTTP server answering with `handler(method, path, headers, body) -> (status, json)`."""

    def __init__(self, handler):
        outer = self
        self.requests = []

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                status, payload = handler(self.command, self.path, self.headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Transport(unittest.TestCase):
    def test_api_errors_become_cluster_errors_with_code_message_and_field(self):
        s = _Server(lambda m, p, h, b: (400, {"statusCode": 400, "code": "VALIDATION_FAILED", "message": "priority: must be integer", "field": "priority"}))
        try:
            c = Cluster(s.url, token="tok")
            self.addCleanup(c.close)
            with self.assertRaises(ClusterError) as cm:
                c.submit(["true"], priority=1)
            self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (400, "VALIDATION_FAILED", "priority"))
            self.assertIn("must be integer", str(cm.exception))
            self.assertEqual(s.requests[0][2].get("authorization") or s.requests[0][2].get("Authorization"), "Bearer tok")
        finally:
            s.close()

    def test_a_server_that_is_not_picluster_and_one_that_is_not_there(self):
        s = _Server(lambda m, p, h, b: (200, b"<html>router login</html>"))
        try:
            c = Cluster(s.url, token="t")
            self.addCleanup(c.close)
            with self.assertRaises(ClusterError) as cm:
                c.nodes()
            self.assertEqual(cm.exception.code, "NOT_PICLUSTER")
        finally:
            s.close()
        with self.assertRaises(ClusterError) as cm:
            Cluster("http://127.0.0.1:9", token="t").nodes()
        self.assertEqual((cm.exception.status, cm.exception.code), (0, "UNREACHABLE"))
        self.assertIn("cannot reach the master", cm.exception.message)


class FilesUpload(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".csv")
        os.write(fd, b"a,b\n1,2\n")
        os.close(fd)
        self.sha = hashlib.sha256(b"a,b\n1,2\n").hexdigest()

    def tearDown(self):
        os.unlink(self.path)

    def test_a_master_without_api_files_raises_files_unsupported_before_submitting(self):
        s = _Server(lambda m, p, h, b: (404, {"statusCode": 404, "code": "NOT_FOUND", "message": "no route %s %s" % (m, p)}))
        try:
            c = Cluster(s.url, token="t")
            self.addCleanup(c.close)
            with self.assertRaises(FilesUnsupported) as cm:
                c.submit(["wc", "-l", "data.csv"], files=[("data.csv", self.path)])
            self.assertEqual(cm.exception.code, "FILES_UNSUPPORTED")
            self.assertNotIn("/api/jobs", [p for _, p, _, _ in s.requests])
        finally:
            s.close()

    def test_the_documented_contract_uploads_once_and_references_by_hash(self):
        store = {}
        jobs = []

        def handler(m, p, h, b):
            if m == "GET" and p.startswith("/api/files/"):
                sha = p.rsplit("/", 1)[1]
                return (200, {"sha256": sha, "sizeBytes": len(store[sha])}) if sha in store else (404, {"code": "FILE_NOT_FOUND", "message": "no such file"})
            if m == "POST" and p == "/api/files":
                self.assertEqual(h["x-picluster-sha256"], hashlib.sha256(b).hexdigest())
                store[h["x-picluster-sha256"]] = b
                return 201, {"sha256": h["x-picluster-sha256"], "sizeBytes": len(b)}
            if m == "POST" and p == "/api/jobs":
                jobs.append(json.loads(b))
                return 201, {"id": len(jobs), "state": "queued"}
            return 404, {"code": "NOT_FOUND", "message": "?"}

        s = _Server(handler)
        try:
            c = Cluster(s.url, token="t")
            self.addCleanup(c.close)
            c.submit(["wc", "-l", "in.csv"], files=[("in.csv", self.path)])
            c.submit(["cat", os.path.basename(self.path)], files=[self.path])
            posts = [r for r in s.requests if r[0] == "POST" and r[1] == "/api/files"]
            self.assertEqual(len(posts), 1)  # the second job reuses the upload
            self.assertEqual(jobs[0]["files"], [{"name": "in.csv", "sha256": self.sha, "sizeBytes": 8}])
            self.assertEqual(jobs[1]["files"][0]["name"], os.path.basename(self.path))
        finally:
            s.close()

    def test_bad_file_arguments(self):
        c = Cluster("http://127.0.0.1:9", token="t")
        self.addCleanup(c.close)
        with self.assertRaises(FileNotFoundError):
            c.submit(["true"], files=["/nonexistent/x.csv"])
        with self.assertRaisesRegex(ValueError, "usable file name"):
            c.submit(["true"], files=[("../x", self.path)])


if __name__ == "__main__":
    unittest.main()

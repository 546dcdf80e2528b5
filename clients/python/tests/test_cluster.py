"""The client against a real master with local agents (test/e2e/python-client.test.ts starts one
and sets PICLUSTER_TEST_URL / PICLUSTER_TEST_TOKEN)."""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers_for_tests  # noqa: E402

from picluster import Cluster, ClusterError, JobFailed, as_completed  # noqa: E402

URL = os.environ.get("PICLUSTER_TEST_URL")
TOKEN = os.environ.get("PICLUSTER_TEST_TOKEN")
NEEDS = "set PICLUSTER_TEST_URL and PICLUSTER_TEST_TOKEN to a master with local agents (test/e2e/python-client.test.ts does)"


def add(a, b=0, scale=1):
    return (a + b) * scale


def uses_helper(x):
    return helpers_for_tests.triple(x)


def explode(x):
    raise KeyError("no key %s" % x)


def not_json():
    return {1, 2, 3}


def slow_printer(n):
    import sys as s
    import time as t

    for i in range(n):
        print("tick", i)
        s.stdout.flush()
        t.sleep(0.2)
    return n


def read_lines(path):
    with open(path) as f:
        return len(f.read().splitlines()) - 1


def burn():
    s = 0
    for i in range(2_000_000):
        s += i
    return s


@unittest.skipUnless(URL and TOKEN, NEEDS)
class AgainstAMaster(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(URL, TOKEN)
        self.addCleanup(self.c.close)

    def test_an_argv_job_returns_its_stdout(self):
        job = self.c.submit(["sh", "-c", 'echo "hello from $PICLUSTER_NODE"'])
        self.assertRegex(job.result(timeout=60), r"^hello from local-\d+\n$")
        self.assertEqual(job.state, "succeeded")
        self.assertEqual(job.wait().exit_code, 0)

    def test_a_function_runs_with_args_and_kwargs_and_depends(self):
        self.assertEqual(self.c.submit(add, 2, kwargs={"b": 3, "scale": 10}).result(timeout=60), 50)
        self.assertEqual(self.c.submit(uses_helper, 14, depends=[helpers_for_tests]).result(timeout=60), 42)

    def test_a_function_that_raises_comes_back_as_job_failed_with_the_traceback(self):
        with self.assertRaises(JobFailed) as cm:
            self.c.submit(explode, 7).result(timeout=60)
        e = cm.exception
        self.assertEqual(e.remote_type, "KeyError")
        self.assertIn("in explode", e.error)
        self.assertIn("KeyError: 'no key 7'", str(e))
        self.assertEqual(e.result.attempts, 1)  # a failure is not retried by default

    def test_a_result_that_is_not_json_is_a_clear_error(self):
        with self.assertRaises(JobFailed) as cm:
            self.c.submit(not_json).result(timeout=60)
        self.assertIn("not JSON", cm.exception.error)
        self.assertIn("set", cm.exception.error)

    def test_a_nonzero_exit_fails_at_once_unless_retry_on_failure(self):
        with self.assertRaises(JobFailed) as cm:
            self.c.submit(["sh", "-c", "exit 3"]).result(timeout=60)
        self.assertEqual((cm.exception.exit_code, cm.exception.result.attempts), (3, 1))
        retried = self.c.submit(["sh", "-c", "exit 3"], retries=1, retry_on=["failure"]).wait(timeout=60)
        self.assertEqual((retried.state, retried.attempts), ("failed", 2))

    def test_map_returns_values_in_order_with_progress(self):
        seen = []
        out = self.c.map(add, range(30), range(30), progress=lambda done, total, failed: seen.append((done, total, failed)))
        self.assertEqual(out, [2 * i for i in range(30)])
        self.assertEqual(seen[-1], (30, 30, 0))
        self.assertEqual(len(seen), 30)

    def test_map_raises_the_first_failure_or_returns_it(self):
        with self.assertRaises(JobFailed):
            self.c.map(add, [1, "x", 2], [1, 1, 1])
        out = self.c.map(add, [1, "x", 2], [1, 1, 1], return_exceptions=True)
        self.assertEqual(out[0], 2)
        self.assertIsInstance(out[1], JobFailed)
        self.assertEqual(out[1].remote_type, "TypeError")
        self.assertEqual(out[2], 3)

    def test_as_completed_yields_every_job_once_fast_ones_first(self):
        slow = self.c.submit(["sleep", "2"])
        fast = self.c.submit_many(add, [(i, i) for i in range(5)])
        order = [j.id for j in as_completed([slow] + fast, timeout=60)]
        self.assertEqual(sorted(order), sorted([slow.id] + [j.id for j in fast]))
        self.assertEqual(order[-1], slow.id)

    def test_as_completed_times_out(self):
        job = self.c.submit(["sleep", "30"])
        try:
            with self.assertRaises(TimeoutError):
                list(as_completed([job], timeout=0.5))
            with self.assertRaises(TimeoutError):
                job.result(timeout=0.3)
        finally:
            job.cancel()

    def test_output_is_live_and_cancel_kills_it(self):
        job = self.c.submit(slow_printer, 100)
        deadline = time.monotonic() + 30
        while "tick 1" not in job.output().stdout:
            self.assertLess(time.monotonic(), deadline, "no live output")
            time.sleep(0.1)
        self.assertTrue(job.output().running)
        self.assertTrue(job.cancel())
        r = job.wait(timeout=30)
        self.assertEqual(r.state, "cancelled")
        self.assertFalse(job.cancel())
        with self.assertRaises(JobFailed):
            job.result()

    def test_timeout_is_in_seconds_and_ends_the_job(self):
        r = self.c.submit(["sleep", "30"], timeout=0.5).wait(timeout=60)
        self.assertEqual(r.state, "failed")
        self.assertIn("timed out", r.reason)

    def test_cpu_time_and_peak_memory_arrive_in_the_result(self):
        r = self.c.submit(burn).wait(timeout=60)
        self.assertEqual(r.state, "succeeded")
        self.assertGreater(r.cpu_ms, 50)
        self.assertGreater(r.peak_memory_bytes, 1_000_000)

    def test_requirements_pin_a_node(self):
        r = self.c.submit(["true"], requirements={"node": "local-2"}).wait(timeout=60)
        self.assertEqual(r.node, "local-2")

    def test_api_errors_carry_code_message_and_field(self):
        with self.assertRaises(ClusterError) as cm:
            self.c.submit(["true"], priority=5000)
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.field), (400, "VALIDATION_FAILED", "priority"))
        with self.assertRaises(ClusterError) as cm:
            self.c.job(999_999_999)
        self.assertEqual(cm.exception.code, "JOB_NOT_FOUND")
        with Cluster(URL, "wrong-token-0123456789") as bad:
            with self.assertRaises(ClusterError) as cm:
                bad.nodes()
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "UNAUTHORIZED"))

    def _tmp(self, data: bytes, suffix: str = ".csv") -> str:
        f = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(data)
        f.close()
        return f.name

    def test_input_files_are_uploaded_once_and_reach_the_job_under_their_names(self):
        data = self._tmp(b"a,b\n1,2\n")
        other = self._tmp(b"second file\n", ".txt")
        out = self.c.submit(["sh", "-c", "cat " + os.path.basename(data) + " in/b.txt"], files=[data, ("in/b.txt", other)]).result(timeout=60)
        self.assertEqual(out, "a,b\n1,2\nsecond file\n")
        # a python job reads the same file (already on the master: not uploaded again)
        self.assertEqual(self.c.submit(read_lines, "in.csv", files=[("in.csv", data)]).result(timeout=60), 1)

    def test_an_unknown_file_id_is_refused_naming_it_and_nothing_is_submitted(self):
        before = sum(self.c.counts().values())
        with self.assertRaises(ClusterError) as cm:
            self.c._t.request("POST", "/api/jobs", {"argv": ["true"], "files": [{"name": "x.bin", "sha256": "ab" * 32, "sizeBytes": 1}]})
        self.assertEqual((cm.exception.status, cm.exception.field), (400, "files[0].sha256"))
        self.assertIn("ab" * 32, str(cm.exception))
        self.assertEqual(sum(self.c.counts().values()), before)

    def test_an_upload_whose_hash_does_not_match_is_refused(self):
        with self.assertRaises(ClusterError) as cm:
            self.c._t.request(
                "POST",
                "/api/files",
                raw=b"the bytes",
                headers={"content-type": "application/octet-stream", "x-picluster-sha256": "cd" * 32, "x-picluster-name": "x.bin"},
            )
        self.assertEqual((cm.exception.status, cm.exception.code), (400, "FILE_HASH_MISMATCH"))
        self.assertIn("x-picluster-sha256", str(cm.exception))

    def test_an_oversized_upload_is_refused_with_413(self):
        # test/e2e/python-client.test.ts starts the master with files.maxUploadBytes = 1 MiB
        big = self._tmp(b"\0" * (1024 * 1024 + 1), ".bin")
        with self.assertRaises(ClusterError) as cm:
            self.c.submit(["true"], files=[big])
        self.assertEqual((cm.exception.status, cm.exception.code), (413, "FILE_TOO_LARGE"))
        self.assertIn("files.maxUploadBytes", str(cm.exception))

    def test_nodes_say_how_jobs_are_isolated_and_which_runtimes_they_have(self):
        nodes = {n["name"]: n for n in self.c.nodes()}
        ident = nodes["local-1"]["identity"]
        self.assertIn(ident["isolation"]["kind"], ("cgroup", "process-group"))
        self.assertRegex(ident["runtimes"]["python3"], r"^3\.\d+")


if __name__ == "__main__":
    unittest.main()

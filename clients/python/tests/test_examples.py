"""The examples (examples/*.py) against a real master with local agents; the scraper only
against HTTP servers this test starts on loopback."""
import http.server
import os
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples"))
sys.path.insert(0, EXAMPLES)

from picluster import Cluster  # noqa: E402

URL = os.environ.get("PICLUSTER_TEST_URL")
TOKEN = os.environ.get("PICLUSTER_TEST_TOKEN")
NEEDS = "set PICLUSTER_TEST_URL and PICLUSTER_TEST_TOKEN to a master with local agents (test/e2e/python-client.test.ts does)"


class Site:
    """A small site on loopback: / → /a, /b (and a link to another origin); /slow never answers in time."""

    def __init__(self, pages):
        self.hits = []
        self.release = threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits.append(self.path)
                if self.path == "/slow":
                    outer.release.wait(20)
                body = pages.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/html; charset=utf-8")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up on /slow: that is the point

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@unittest.skipUnless(URL and TOKEN, NEEDS)
class Examples(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(URL, TOKEN)
        self.addCleanup(self.c.close)

    def test_submit_jobs_prints_a_summary_per_node(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        p = subprocess.run(
            [sys.executable, os.path.join(EXAMPLES, "submit_jobs.py"), "--jobs", "12", "--size", "50000", "--url", URL, "--token=" + TOKEN, "--progress", "on"],
            capture_output=True, text=True, timeout=120, env=env,
        )
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"12 jobs in [\d.]+ s: 12 succeeded, 0 failed; primes below 50000: 5133")
        self.assertRegex(p.stdout, r"NODE\s+JOBS\s+FAILED\s+RUN \(s\)\s+CPU \(s\)\s+PEAK MB")
        rows = [line.split() for line in p.stdout.splitlines() if line.startswith("local-")]
        self.assertEqual(sum(int(r[1]) for r in rows), 12)
        self.assertTrue(all(float(r[4]) > 0 for r in rows), "CPU time measured on every node")
        self.assertIn("12/12 jobs done", p.stderr)

    def test_the_readme_dispy_example_runs(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), PICLUSTER_URL=URL, PICLUSTER_TOKEN=TOKEN)
        p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "from_dispy.py")], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(sorted(line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in lines), ["{'slept': 0.1}", "{'slept': 0.2}", "{'slept': 0.3}"])
        self.assertTrue(all(line.rsplit(" ", 1)[1].startswith("local-") for line in lines))

    def test_monte_carlo_pi(self):
        import pi_monte_carlo

        pi, total = pi_monte_carlo.estimate(self.c, chunks=6, samples=50_000, progress=False)
        self.assertEqual(total, 300_000)
        self.assertAlmostEqual(pi, 3.14159, delta=0.03)
        # seeded per chunk: the same chunks give the same answer
        self.assertEqual(pi_monte_carlo.estimate(self.c, chunks=6, samples=50_000, progress=False)[0], pi)

    def test_thumbnails_come_back_as_artifacts(self):
        import tempfile

        import thumbnails

        tmp = tempfile.mkdtemp()
        grey = os.path.join(tmp, "grey.pgm")
        thumbnails.write_pnm(grey, 40, 20, 1, bytes((x * 6) % 256 for y in range(20) for x in range(40)))
        colour = os.path.join(tmp, "colour.ppm")
        thumbnails.write_pnm(colour, 30, 30, 3, bytes([200, 10, 10] * 900))
        done = thumbnails.thumbnails(self.c, [grey, colour], 10, os.path.join(tmp, "out"))
        by_name = {v["name"]: (v, path) for v, path in done}
        self.assertEqual(sorted(by_name), ["colour.ppm", "grey.pgm"])
        self.assertEqual(by_name["grey.pgm"][0]["to"], [10, 5])
        w, h, ch, px = thumbnails.read_pnm(by_name["grey.pgm"][1])
        self.assertEqual((w, h, ch), (10, 5, 1))
        self.assertEqual(px[0], (0 + 6 + 12 + 18) // 4)  # the box filter's average of the first 4x4 block
        w, h, ch, px = thumbnails.read_pnm(by_name["colour.ppm"][1])
        self.assertEqual((w, h, ch, bytes(px[:3])), (10, 10, 3, bytes([200, 10, 10])))

    def test_scraper_stays_on_its_origin_and_within_max_pages_and_time(self):
        import scraper

        other = Site({"/": "<html><title>elsewhere</title></html>"})
        self.addCleanup(other.close)
        pages = {}
        site = Site(pages)  # filled below, once its own address is known
        self.addCleanup(site.close)
        pages.update(
            {
                "/": '<html><head><title>Home</title></head><body><a href="/a">a</a> <a href="b">b</a> <a href="%s/">other origin</a> <a href="/a#x">a again</a></body></html>'
                % other.base,
                "/a": '<title>A</title><a href="/">home</a><a href="%s/c">c, absolute</a>' % site.base,
                "/b": "<title>B</title>",
                "/c": "<title>C</title>",
            }
        )

        r = self.c.submit(scraper.crawl, site.base + "/", 10, 20.0, depends=[scraper._Page]).result(timeout=120)
        urls = [p["url"] for p in r["pages"]]
        self.assertEqual(urls, [site.base + "/", site.base + "/a", site.base + "/b", site.base + "/c"])
        self.assertEqual([p["title"] for p in r["pages"]], ["Home", "A", "B", "C"])
        self.assertEqual(other.hits, [], "never left the start URL's origin")
        self.assertEqual(r["errors"], [])

        limited = self.c.submit(scraper.crawl, site.base + "/", 2, 20.0, depends=[scraper._Page]).result(timeout=120)
        self.assertEqual(len(limited["pages"]), 2)

    def test_the_scraper_without_its_parser_class_in_depends_is_refused_before_submitting(self):
        import scraper
        from picluster import ShippingError

        with self.assertRaisesRegex(ShippingError, "uses _Page, defined beside it: add it to depends"):
            self.c.submit(scraper.crawl, "http://127.0.0.1:9/")

    def test_scraper_timeout_ends_the_crawl_with_an_error(self):
        import scraper

        site = Site({"/": '<a href="/slow">slow</a><a href="/next">next</a>', "/slow": "late", "/next": "n"})
        self.addCleanup(site.close)
        r = self.c.submit(scraper.crawl, site.base + "/", 10, 1.5, depends=[scraper._Page]).result(timeout=120)
        self.assertEqual([p["url"] for p in r["pages"]], [site.base + "/"])
        self.assertTrue(r["errors"], "the slow page is reported")
        self.assertRegex(" ".join(e["error"] for e in r["errors"]), r"timed out|timeout")


if __name__ == "__main__":
    unittest.main()

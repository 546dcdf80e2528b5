#!/usr/bin/env python3
"""The seed's scraper service as a job: crawl one site from a start URL, same origin only.

    python3 examples/scraper.py https://example.lan/ [--max-pages 50] [--timeout 30]

The crawl runs on a node: breadth-first from the start URL, following only links whose scheme,
host and port are the start URL's, at most `max_pages` pages, stopping when `timeout` seconds
have passed (each request is bounded too). It returns each page's URL, HTTP status, title and
the number of links found, and the errors it met. Stdlib only (urllib, html.parser).
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import _picluster_path  # noqa: F401
from picluster import Cluster


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def crawl(start_url, max_pages=50, timeout=30.0):
    """Runs on a node (shipped as source)."""

    def origin(u):
        p = urllib.parse.urlsplit(u)
        return (p.scheme, p.hostname, p.port or {"http": 80, "https": 443}.get(p.scheme))

    deadline = time.monotonic() + timeout
    home = origin(start_url)
    queue, seen, pages, errors = [start_url], {start_url}, [], []
    while queue and len(pages) < max_pages:
        left = deadline - time.monotonic()
        if left <= 0:
            errors.append({"url": queue[0], "error": "crawl timeout after %s s" % timeout})
            break
        url = queue.pop(0)
        try:
            with urllib.request.urlopen(url, timeout=min(10.0, left)) as resp:
                status = resp.status
                kind = resp.headers.get("content-type", "")
                body = resp.read(2_000_000).decode("utf-8", "replace") if "html" in kind else ""
        except urllib.error.HTTPError as e:
            pages.append({"url": url, "status": e.code, "title": "", "links": 0})
            continue
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append({"url": url, "error": str(getattr(e, "reason", e))})
            continue
        page = _Page()
        page.feed(body)
        pages.append({"url": url, "status": status, "title": page.title.strip(), "links": len(page.links)})
        for href in page.links:
            target = urllib.parse.urldefrag(urllib.parse.urljoin(url, href))[0]
            if target not in seen and origin(target) == home:
                seen.add(target)
                queue.append(target)
    return {"start": start_url, "pages": pages, "errors": errors}


def main(argv=None):
    ap = argparse.ArgumentParser(description="crawl sites on the cluster, same origin only")
    ap.add_argument("start", nargs="+", help="start URLs (one job each)")
    ap.add_argument("--max-pages", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per crawl")
    ap.add_argument("--url")
    ap.add_argument("--token")
    a = ap.parse_args(argv)
    with Cluster(a.url, a.token) as cluster:
        jobs = [cluster.submit(crawl, s, a.max_pages, a.timeout, depends=[_Page], group="scraper", timeout=a.timeout + 30) for s in a.start]
        for job in jobs:
            print(json.dumps(job.result(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

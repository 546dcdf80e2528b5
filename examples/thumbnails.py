#!/usr/bin/env python3
"""An image job: thumbnails of input files, returned as artifacts.

    python3 examples/thumbnails.py --max-side 64 --out thumbs/ img1.ppm img2.pgm [--url http://master:8080]

Each image is uploaded once (content-addressed, `files=`), a job per image runs on a node,
reads it from its scratch dir, shrinks it (box filter) so its longer side is at most
`--max-side`, and writes the thumbnail under $PICLUSTER_OUT; the client downloads the artifacts.
Stdlib only: binary PGM (P5, grey) and PPM (P6, colour) with 8-bit samples.
"""
import argparse
import os
import sys

import _picluster_path  # noqa: F401
from picluster import Cluster


def read_pnm(path):
    """→ (width, height, channels, bytes) of a binary P5/P6 file with maxval 255."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, w, h, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic not in (b"P5", b"P6") or maxval != 255:
        raise ValueError("%s: only binary PGM/PPM (P5/P6) with maxval 255 are supported" % path)
    channels = 1 if magic == b"P5" else 3
    pixels = data[pos + 1 : pos + 1 + w * h * channels]
    if len(pixels) != w * h * channels:
        raise ValueError("%s: truncated image data" % path)
    return w, h, channels, pixels


def write_pnm(path, w, h, channels, pixels):
    with open(path, "wb") as f:
        f.write(b"%s\n%d %d\n255\n" % (b"P5" if channels == 1 else b"P6", w, h))
        f.write(bytes(pixels))


def shrink(w, h, channels, pixels, max_side):
    """Box-filter downscale so that max(w, h) <= max_side; → (w, h, pixels)."""
    factor = max(1, -(-max(w, h) // max_side))
    nw, nh = max(1, w // factor), max(1, h // factor)
    out = bytearray(nw * nh * channels)
    area = factor * factor
    for y in range(nh):
        for x in range(nw):
            for c in range(channels):
                total = 0
                for dy in range(factor):
                    row = ((y * factor + dy) * w + x * factor) * channels + c
                    for dx in range(factor):
                        total += pixels[row + dx * channels]
                out[(y * nw + x) * channels + c] = total // area
    return nw, nh, out


def make_thumbnail(name, max_side):
    """Runs on a node: `name` is an input file in the job's directory."""
    w, h, channels, pixels = read_pnm(name)
    nw, nh, small = shrink(w, h, channels, pixels, max_side)
    out = os.path.join(os.environ["PICLUSTER_OUT"], "thumb-" + os.path.basename(name))
    write_pnm(out, nw, nh, channels, small)
    return {"name": name, "from": [w, h], "to": [nw, nh]}


def thumbnails(cluster, paths, max_side, out_dir):
    """One job per image; → [(job result, local thumbnail path)]."""
    os.makedirs(out_dir, exist_ok=True)
    jobs = [
        cluster.submit(make_thumbnail, os.path.basename(p), max_side, files=[p], depends=[read_pnm, write_pnm, shrink], group="thumbnails")
        for p in paths
    ]
    done = []
    for job in jobs:
        value = job.result(timeout=300)
        for a in job.artifacts():
            job.download(a.name, out_dir)
            done.append((value, os.path.join(out_dir, os.path.basename(a.name))))
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--max-side", type=int, default=64)
    ap.add_argument("--out", default="thumbs")
    ap.add_argument("--url")
    ap.add_argument("--token")
    args = ap.parse_args(argv)
    with Cluster(args.url, args.token) as cluster:
        for value, path in thumbnails(cluster, args.images, args.max_side, args.out):
            print("%s %dx%d -> %dx%d %s" % (value["name"], value["from"][0], value["from"][1], value["to"][0], value["to"][1], path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

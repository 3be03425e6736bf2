#!/usr/bin/env python3
"""Time and memory of `kaohe hub results` against the number of units.

Reads the last lines of `cargo bench -p kaohe-hub --bench scale` runs
(`units=N ingest_per_s=… consolidate_s=… peak_rss_mb=… db_mb=…`, one per
line, other lines ignored) from the files named, or from
`hub/benches/scale-results.txt`, and writes `hub/benches/scale.svg`: two
panels, seconds and peak MB against N, every run a dot, the median of each
N joined by a line, issue #17's aims (30 s, 1 GiB at 430,000 units) as a
dashed line. Standard library only.

    python3 hub/benches/scale-plot.py [RESULTS...] [-o OUT.svg]
"""

import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(
    r"units=(\d+) ingest_per_s=([\d.]+) consolidate_s=([\d.]+) peak_rss_mb=([\d.]+) db_mb=([\d.]+)"
)


def read(paths):
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = LINE.search(line)
                if m:
                    n, ingest, secs, mb, db = m.groups()
                    runs.append((int(n), float(ingest), float(secs), float(mb), float(db)))
    return runs


def panel(x0, title, unit, points, aim, width=420, height=300):
    """One chart as SVG elements; points = [(n, value)], aim = (n, value)."""
    left, bottom, top, right = 60, 40, 30, 20
    w, h = width - left - right, height - top - bottom
    xmax = max([p[0] for p in points] + [aim[0]]) * 1.05
    ymax = max([p[1] for p in points] + [aim[1]]) * 1.1
    sx = lambda n: x0 + left + w * n / xmax
    sy = lambda v: top + h - h * v / ymax
    out = [
        f'<text x="{x0 + left + w / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{x0 + left}" y1="{top + h}" x2="{x0 + left + w}" y2="{top + h}" stroke="black"/>',
        f'<line x1="{x0 + left}" y1="{top}" x2="{x0 + left}" y2="{top + h}" stroke="black"/>',
        f'<text x="{x0 + left + w / 2}" y="{height - 5}" text-anchor="middle" font-size="11">units</text>',
        f'<text x="{x0 + 12}" y="{top + h / 2}" font-size="11" transform="rotate(-90 {x0 + 12} {top + h / 2})" text-anchor="middle">{unit}</text>',
    ]
    for k in range(5):
        n = xmax * k / 4
        v = ymax * k / 4
        out.append(f'<text x="{sx(n)}" y="{top + h + 14}" text-anchor="middle" font-size="10">{n / 1000:.0f}k</text>')
        out.append(f'<text x="{x0 + left - 4}" y="{sy(v) + 3}" text-anchor="end" font-size="10">{v:.0f}</text>')
    # The aim: a straight line from the origin through (n, value).
    out.append(
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(aim[0])}" y2="{sy(aim[1])}" stroke="green" stroke-dasharray="5,4"/>'
    )
    out.append(f'<text x="{sx(aim[0]) - 4}" y="{sy(aim[1]) - 6}" text-anchor="end" font-size="10" fill="green">aim</text>')
    by_n = {}
    for n, v in points:
        by_n.setdefault(n, []).append(v)
        out.append(f'<circle cx="{sx(n)}" cy="{sy(v)}" r="3" fill="steelblue"/>')
    medians = sorted((n, statistics.median(vs)) for n, vs in by_n.items())
    path = " ".join(f"{sx(n)},{sy(v)}" for n, v in medians)
    out.append(f'<polyline points="{path}" fill="none" stroke="steelblue"/>')
    for n, v in medians:
        out.append(f'<text x="{sx(n) + 5}" y="{sy(v) - 5}" font-size="10">{v:.1f}</text>')
    return out


def main(argv):
    out_path = os.path.join(HERE, "scale.svg")
    paths = []
    it = iter(argv)
    for a in it:
        if a == "-o":
            out_path = next(it)
        else:
            paths.append(a)
    runs = read(paths or [os.path.join(HERE, "scale-results.txt")])
    if not runs:
        sys.exit("no `units=…` lines found")
    svg = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="860" height="320" font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    svg += panel(0, "kaohe hub results: seconds", "s", [(r[0], r[2]) for r in runs], (430_000, 30))
    svg += panel(430, "kaohe hub results: peak RSS", "MB", [(r[0], r[3]) for r in runs], (430_000, 1024))
    svg.append("</svg>")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")
    print(f"{out_path}: {len(runs)} runs")


if __name__ == "__main__":
    main(sys.argv[1:])

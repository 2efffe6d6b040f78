"""Compare two benchmark runs cell by cell: is each |Δ median| within the spread (the larger
IQR) that the runs report? ``python -m triptych.bench.compare_runs A/bench.json B/bench.json``
prints a markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def compare(a_path: str, b_path: str) -> tuple[str, int, int]:
    a = json.loads(Path(a_path).read_text())["results"]
    b = json.loads(Path(b_path).read_text())["results"]
    rows = [
        "| cell | run 1 median ms (IQR) | run 2 median ms (IQR) | abs diff of medians | "
        "within the stated spread |",
        "|---|---|---|---|---|",
    ]
    within = total = 0
    for x, y in zip(a, b, strict=True):
        if x["status"] != "ok" or y["status"] != "ok":
            continue
        c = x["cell"]
        diff = abs(x["median_s"] - y["median_s"]) * 1000
        ok = diff <= max(x["iqr_s"], y["iqr_s"]) * 1000
        within, total = within + ok, total + 1
        rows.append(
            f"| {c['model']} {c['framework']} {c['mode']} {c['variant']} b{c['batch']} "
            f"| {x['median_s'] * 1000:.3f} ({x['iqr_s'] * 1000:.3f}) | "
            f"{y['median_s'] * 1000:.3f} ({y['iqr_s'] * 1000:.3f}) | {diff:.3f} | "
            f"{'yes' if ok else 'NO'} |"
        )
    rows.append(f"\n{within} of {total} cells: |Δ median| ≤ the larger IQR of the two runs.")
    return "\n".join(rows), within, total


if __name__ == "__main__":
    text, within, total = compare(sys.argv[1], sys.argv[2])
    print(text)
    sys.exit(0 if within == total else 1)

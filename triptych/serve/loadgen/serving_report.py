"""``python -m triptych.serve.loadgen.serving_report SOAK.json FAULTS.json [--provenance P.json]``:
renders `benchmarks/serving.md` and `benchmarks/serving.json` from a soak run (`soak`) and
a fault run (`faults`). ``P.json``: commit, date, cpu, load averages, the command lines
that produced them and notes (a list of sentences)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _growth(first: dict[str, int], last: dict[str, int]) -> tuple[int, int, float]:
    a, b = sum(first.values()), sum(last.values())
    return a, b, 100.0 * (b - a) / max(a, 1)


def soak_lines(s: dict[str, Any]) -> list[str]:
    first, last = s["samples"][0], s["samples"][-1]
    rss0, rss1, rss_pct = _growth(first["rss_kib"], last["rss_kib"])
    fd0, fd1, _ = _growth(first["fds"], last["fds"])
    rss_ok, fd_ok = rss_pct < 5.0, fd1 <= fd0
    lines = [
        "## Soak: LoadGen Server scenario, 10 minutes at 70 % of the max VALID QPS",
        "",
        f"{s['model']}, {s['path']}, batch 1, p99 bound {s['latency_ms']:g} ms. A bisection "
        f"(5 LoadGen Server tests) on the same server just before found {s['max_valid_qps']:,.0f} "
        f"QPS VALID (Offline {s['offline_samples_per_s']:,.0f} samples/s); the soak ran one "
        f"LoadGen test of {s['seconds'] / 60:.1f} min at {100 * s['fraction']:.0f} % of it, "
        f"{s['target_qps']:,.0f} QPS.",
        "",
        "| result | achieved QPS | p50 ms | p99 ms | queries | errors | server CPU us/query "
        "| steal % |",
        "|---|---|---|---|---|---|---|---|",
        f"| {'VALID' if s['valid'] else 'INVALID'} | {s['achieved_qps']:,.0f} | "
        f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['queries']:,} | {s['errors']} | "
        f"{s['server_cpu_us'] or 0:.0f} | {s['stolen_pct']:.1f} |",
        "",
        "Server processes (the parent and its 2 workers), summed, at the start and the end of "
        "the soak (after the bisection warmed them up):",
        "",
        "| | start | end | growth | bound | holds |",
        "|---|---|---|---|---|---|",
        f"| resident memory (MiB) | {rss0 / 1024:.1f} | {rss1 / 1024:.1f} | {rss_pct:+.2f} % "
        f"| < 5 % | {'yes' if rss_ok else 'NO'} |",
        f"| open file descriptors | {fd0} | {fd1} | {fd1 - fd0:+d} | no growth | "
        f"{'yes' if fd_ok else 'NO'} |",
        "",
        "Every sample (seconds into the soak: RSS MiB per process / open fds per process):",
        "",
        "```text",
    ]
    for snap in s["samples"]:
        rss = " ".join(f"{v / 1024:.1f}" for v in snap["rss_kib"].values())
        fds = " ".join(str(v) for v in snap["fds"].values())
        lines.append(f"{snap['t']:>6.1f} s  rss {rss}  fds {fds}")
    lines += ["```", ""]
    return lines


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(c.items())) or "none"


def fault_lines(f: dict[str, Any]) -> list[str]:
    lines = [
        "## Faults",
        "",
        f"The GAN generator over HTTP JSON at batch 1, {f['threads']} closed-loop clients "
        "(one persistent connection each, reopened after a failure), `triptych serve "
        "--workers 2`.",
        "",
        "**SIGKILL of one worker under load** (the parent replaces it; seconds from the kill to "
        "the replacement's `ready` log line; requests by outcome, counted by when they "
        "started):",
        "",
        "| round | replaced in (s) | failed requests | answered while replacing | "
        "3 s before | 3 s after |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(f["kill"], 1):
        lines.append(
            f"| {i} | {r['replaced_s']:.2f} | {r['failed']} | {_counts(r['during'])} | "
            f"{_counts(r['before_3s'])} | {_counts(r['after_3s'])} |"
        )
    d = f["drain"]
    lines += [
        "",
        f"**SIGTERM under load**: {d['held']} requests had sent their headers and half their "
        f"body when the signal came (then the rest): {d['held_answered']} of {d['held']} "
        f"answered 200. The load's requests: before the signal {_counts(d['load_before_signal'])}; "
        f"after it {_counts(d['load_after_signal'])} (new connections are refused once the "
        f"server stops accepting). The server exited {d['exit_s']:.2f} s after the signal "
        f"(status {d['exit_code']}).",
        "",
    ]
    st = f["streams"]
    new = (
        f"answered in {st['new_client_s'] * 1000:.0f} ms"
        if st["new_client_error"] is None
        else f"NOT served: {st['new_client_error']}"
    )
    lines += [
        f"**Idle gRPC streams**: {st['idle']} tritonclient ModelStreamInfer clients (each its "
        f"own connection) opened a stream, sent one request ({st['idle_served']} served: the "
        "server has 16 places) and went idle; 1.5 s later a new stream client was "
        f"{new} (the longest idle stream gave up its place).",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("soak")
    p.add_argument("faults")
    p.add_argument("--provenance", help="JSON: commit, date, cpu, load, commands")
    p.add_argument("--out", default="benchmarks", help="folder for serving.md/.json")
    args = p.parse_args(argv)
    soak = json.loads(Path(args.soak).read_text())
    faults = json.loads(Path(args.faults).read_text())
    prov = json.loads(Path(args.provenance).read_text()) if args.provenance else {}
    soak.pop("summary", None)
    head = [
        "# Serving: soak and faults",
        "",
        "Generated by `python -m triptych.serve.loadgen.serving_report` from the runs below; "
        "every number is also in `serving.json`. Throughput and latency tables of every "
        "path are in [loadgen/README.md](loadgen/README.md).",
        "",
        f"Provenance: {prov.get('tree', '')} commit `{prov.get('commit', '?')}`, "
        f"{prov.get('date', '?')}, {prov.get('cpu', '?')}; load average (1/5/15 min) "
        f"{prov.get('load_before', '?')} before the soak, {prov.get('load_after', '?')} "
        f"after it ({prov.get('note', '')}). Commands: "
        + "; ".join(f"`{c}`" for c in prov.get("commands", [])),
        "",
    ]
    notes = [f"- {n}" for n in prov.get("notes", [])]
    if notes:
        notes = ["## Notes", "", *notes, ""]
    text = "\n".join(head + soak_lines(soak) + fault_lines(faults) + notes)
    out = Path(args.out)
    (out / "serving.md").write_text(text)
    doc = {"provenance": prov, "soak": soak, "faults": faults}
    (out / "serving.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

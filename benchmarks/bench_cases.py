"""Real configurations against a previous release of the engine, side by side.

Every case runs as a whole ``clustersim`` process (``python -m sim.cli``), once
with this checkout and once with a baseline commit materialised by
``git archive`` into a temporary directory, alternating within one run so
both see the same machine load. Reported per case and version: simulated
step time, events, flows, network solves, wall time and CPU time (user +
system) of the process and its peak RSS; then the baseline/current ratios
(on a shared machine the CPU-time ratio is the steadier one). A table is printed and a CSV
written.

Cases (scenario files in ``benchmarks/scenarios/``):

* ``gpt-1t-3072``: GPT 1T, TP8 PP64 DP6, 512 micro-batches (Megatron-LM SC'21 Table 1);
* ``gpt-1t-512``: GPT 1T, TP8 PP64, 512 micro-batches on 512 GPUs (Korthikanti 2022);
* ``gpt3-175b-128``: GPT-3 175B, TP4 PP8 VP12, 64 micro-batches, 128 H100;
* ``llama3-70b-64``: Llama 3 70B, TP4 PP4 CP2 VP5, 64 micro-batches, 64 H100;
* ``llama3-405b-131k``: Llama-3-405B-like, TP8 PP16 VP7, DP 1,024 = 131,072 H100;
* ``llama3-405b-16k-straggler``: the 16,384-GPU preset with one GPU at 80 % speed;
* ``validate``: ``clustersim validate`` (every published row);
* ``collective-8``: ``clustersim collective``, one 1 GiB all-reduce on 8 GPUs.

    python benchmarks/bench_cases.py                      # every case, both versions
    python benchmarks/bench_cases.py --cases gpt-1t-512 validate --baseline 580c293
    python benchmarks/bench_cases.py --no-baseline        # this checkout only
    python benchmarks/bench_cases.py --repeat 3           # best of 3 runs each, alternating
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
DEFAULT_BASELINE = "b0112c5"

CASES: dict[str, list[str]] = {
    "gpt-1t-3072": ["run", str(SCENARIOS / "gpt-1t-3072.yaml"), "--json"],
    "gpt-1t-512": ["run", str(SCENARIOS / "gpt-1t-512.yaml"), "--json"],
    "gpt3-175b-128": ["run", str(SCENARIOS / "gpt3-175b-128-h100.yaml"), "--json"],
    "llama3-70b-64": ["run", str(SCENARIOS / "llama3-70b-64-h100.yaml"), "--json"],
    "llama3-405b-131k": ["run", str(SCENARIOS / "llama3-405b-131k.yaml"), "--json"],
    "llama3-405b-16k-straggler": ["run", str(SCENARIOS / "llama3-405b-16k-straggler.yaml"),
                                  "--json"],
    "validate": ["validate", "--json"],
    "collective-8": ["collective", "--op", "all_reduce", "--bytes", "1073741824", "--gpus", "8",
                     "--topology", "a100-80gb", "--json"],
}
QUICK = ("gpt3-175b-128", "collective-8")

COLUMNS = ("case", "version", "step_time_s", "events", "flows", "network_solves", "wall_s",
           "cpu_s", "peak_rss_mb", "status")


def _wait(proc: subprocess.Popen, limit_s: float) -> tuple[int | None, int, float]:
    """Reap ``proc`` with ``os.wait4``: exit code (None past the limit), its own
    peak RSS (KB) and CPU time (user + system, s)."""
    deadline = time.monotonic() + limit_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None, 0, 0.0
        time.sleep(0.02)


def run_cli(src: Path, args: list[str], limit_s: float) -> dict:
    """Run ``python -m sim.cli ARGS`` from ``src``: wall time, peak RSS, JSON fields."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *args], cwd=str(src),
                                stdout=out, stderr=err, env=dict(os.environ, PYTHONPATH=str(src)))
        code, rss_kb, cpu_s = _wait(proc, limit_s)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text, etext = out.read(), err.read()
    if code is None:
        return {"status": f"time limit ({limit_s:.0f} s)"}
    if code != 0:
        tail = (etext.strip().splitlines() or ["no output"])[-1]
        return {"status": f"exit {code}: {tail[:120]}"}
    row = {"wall_s": wall, "cpu_s": cpu_s, "peak_rss_mb": rss_kb / 1024, "status": "ok"}
    data = json.loads(text)
    if "step_time_s" in data:
        row["step_time_s"] = data["step_time_s"]
    if "mape" in data:
        ran = [r["predicted_s"] for r in data["rows"] if r.get("predicted_s") is not None]
        row["step_time_s"] = sum(ran)
        row["status"] = (f"ok (MAPE {data['mape']:.4f}; step_s = sum of predicted over "
                         f"{len(ran)} of {len(data['rows'])} rows that run)")
    if "time_s" in data:
        row["step_time_s"] = data["time_s"]
    sim = data.get("sim", {})
    for key in ("events", "flows", "network_solves"):
        if key in sim:
            row[key] = sim[key]
    return row


def materialise(commit: str, into: Path) -> Path:
    """Extract ``commit`` of this repository into ``into`` (``git archive``)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> list[str]:
    head = (f"{'case':<26} {'version':<8} {'step_s':>14} {'events':>9} {'flows':>10} "
            f"{'solves':>8} {'wall_s':>8} {'cpu_s':>8} {'rss_MB':>8}  status")
    lines = [head]
    for r in rows:
        lines.append(f"{r['case']:<26} {r['version']:<8} {fmt(r.get('step_time_s'), '.9g'):>14} "
                     f"{fmt(r.get('events'), 'd'):>9} {fmt(r.get('flows'), 'd'):>10} "
                     f"{fmt(r.get('network_solves'), 'd'):>8} {fmt(r.get('wall_s'), '.2f'):>8} "
                     f"{fmt(r.get('cpu_s'), '.2f'):>8} "
                     f"{fmt(r.get('peak_rss_mb'), '.0f'):>8}  {r.get('status', '')}")
    return lines


def ratios(rows: list[dict]) -> list[str]:
    """Per case: baseline / current wall time and memory; step times compared."""
    by = {(r["case"], r["version"]): r for r in rows}
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        b, c = by.get((case, "baseline")), by.get((case, "current"))
        if not b or not c or "wall_s" not in b or "wall_s" not in c:
            continue
        same = b.get("step_time_s") == c.get("step_time_s")
        diff = ("identical" if same else
                f"differs: {b.get('step_time_s')!r} vs {c.get('step_time_s')!r}")
        mem = (f", memory {b['peak_rss_mb'] / c['peak_rss_mb']:.2f}x"
               if b.get("peak_rss_mb") and c.get("peak_rss_mb") else "")
        out.append(f"{case}: wall {b['wall_s'] / c['wall_s']:.2f}x, CPU "
                   f"{b['cpu_s'] / c['cpu_s']:.2f}x faster{mem}; "
                   f"step time {diff}")
    return out


def _better(kept: dict | None, row: dict) -> dict:
    """Of two runs of one case and version, the one with less CPU time (a
    failed run only if both failed); a differing step time is kept in view."""
    if kept is None:
        return row
    if "cpu_s" not in row:
        return kept if "cpu_s" in kept else row
    if "cpu_s" not in kept:
        return row
    if kept.get("step_time_s") != row.get("step_time_s"):
        raise SystemExit(f"{row['case']} ({row['version']}): step time differs between "
                         f"runs: {kept.get('step_time_s')!r} vs {row.get('step_time_s')!r}")
    return row if row["cpu_s"] < kept["cpu_s"] else kept


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), help="cases to run (default all)")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--baseline", default=DEFAULT_BASELINE,
                    help=f"commit to compare with (default {DEFAULT_BASELINE})")
    ap.add_argument("--no-baseline", action="store_true", help="run this checkout only")
    ap.add_argument("--limit-s", type=float, default=900.0, help="time limit per process (s)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per case and version, alternating; the fastest is kept "
                         "(wall and CPU time of the run with the least CPU time)")
    ap.add_argument("--csv", default="out/bench_cases.csv", help="CSV file to write")
    args = ap.parse_args(argv)
    names = args.cases or (list(QUICK) if args.quick else list(CASES))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="clustersim-baseline-") as tmp:
        versions = [("current", ROOT)]
        if not args.no_baseline:
            versions.insert(0, ("baseline", materialise(args.baseline, Path(tmp))))
        print(f"baseline {args.baseline}" if not args.no_baseline else "current only",
              file=sys.stderr)
        for name in names:
            best: dict[str, dict] = {}
            for _ in range(max(1, args.repeat)):
                for version, src in versions:
                    row = {"case": name, "version": version, **run_cli(src, CASES[name],
                                                                       args.limit_s)}
                    print(table([row])[1], file=sys.stderr, flush=True)
                    best[version] = _better(best.get(version), row)
            rows.extend(best[version] for version, _ in versions)
    for line in table(rows):
        print(line)
    for line in ratios(rows):
        print("ratio: " + line)
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()

"""Adversarial inputs against the ``clustersim`` command line, classified by outcome.

    python benchmarks/adversarial.py [--root DIR] [--timeout S] [--only CLASS] [-v]

Each case writes its input files into a scratch folder, runs ``python -m sim.cli``
(from ``--root``, default: this checkout) under a time and memory limit, and
classifies what happened: ``exit2`` (one clean line on stderr, status 2 — what bad
input must give), ``exit0``, ``exit3`` (internal error with the one-line hint),
``traceback``, ``hang`` (timed out or ran out of memory), ``multiline`` (status 2
but more than one line), or ``other``. A case passes when its outcome is the one
it expects (almost always ``exit2``; a few inputs are fine and expect ``exit0``).

Prints one row per bad-input class (cases, passing, and the outcomes seen), and
exits 1 if any case did not get its expected outcome.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "cluster.gpus=64", "--set", "parallelism.dp=1",
         "--set", "training.global_batch=16", "--no-progress"]


@dataclass
class Case:
    cls: str                       # the bad-input class (table row)
    name: str
    argv: list[str]                # after ``python -m sim.cli``; "{d}" is the scratch folder
    files: dict[str, bytes | str] = field(default_factory=dict)
    expect: str = "exit2"
    shell: str | None = None       # a shell pipeline instead (for redirections and pipes)
    setup: list[list[str]] = field(default_factory=list)   # commands run first (argv lists)
    python: str | None = None      # a Python snippet instead of the CLI


def bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" list (``width ** levels`` leaves when expanded) under ``_bomb``."""
    items = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        items.append(f"&a{i} [{','.join([f'*a{i - 1}'] * width)}]")
    return "_bomb: [" + ", ".join(items) + "]"


def nested_yaml(depth: int) -> str:
    return "model: " + "[" * depth + "]" * depth + "\n"


def trace(**change) -> str:
    """A small valid trace (2 ranks, a compute op then an all-reduce), with ``change`` applied."""
    op_c = {"id": "c", "kind": "compute", "flops": 1e12, "bytes": 1e9, "category": "gemm"}
    op_a = {"id": "a", "kind": "all_reduce", "group": "dp", "bytes": 1 << 20, "deps": ["c"]}
    t = {"format": "clustersim-trace", "version": 1, "world_size": 2,
         "groups": {"dp": [[0, 1]]}, "programs": [{"ranks": [0, 1], "ops": [op_c, op_a]}]}
    for key, value in change.items():
        if key.startswith("c_"):
            op_c[key[2:]] = value
        elif key.startswith("a_"):
            op_a[key[2:]] = value
        else:
            t[key] = value
    return json.dumps(t, ensure_ascii=False)


def cases() -> list[Case]:
    c: list[Case] = []
    scn = ("model: gpt3-175b\ncluster: {gpu: a100-80gb, gpus: 64}\n"
           "parallelism: {tp: 8, pp: 8, dp: 1}\n")
    train = "training: {global_batch: 16, micro_batch: 1, seq_len: 2048}\n"
    # -- encodings
    c += [Case("non-UTF-8", "latin-1 scenario", ["run", "{d}/s.yaml"],
               {"s.yaml": "name: caf\xe9\n".encode("latin-1")}),
          Case("non-UTF-8", "UTF-16 scenario", ["run", "{d}/s.yaml"],
               {"s.yaml": scn.encode("utf-16")}),
          Case("non-UTF-8", "binary scenario", ["run", "{d}/s.yaml"],
               {"s.yaml": bytes(range(256)) * 4}),
          Case("non-UTF-8", "latin-1 trace", ["run", "{d}/t.json"],
               {"t.json": trace(name="caf\xe9").encode("latin-1")}),
          Case("non-UTF-8", "UTF-16 trace", ["run", "{d}/t.json"],
               {"t.json": trace().encode("utf-16")}),
          Case("non-UTF-8", "binary sweep file", ["sweep", "{d}/w.yaml", "--out", "{d}/o"],
               {"w.yaml": b"\xff\xfe\x00\x81" * 64})]
    # -- deep nesting
    c += [Case("deep nesting", "YAML list 10^4 deep", ["run", "{d}/s.yaml"],
               {"s.yaml": nested_yaml(10_000)}),
          Case("deep nesting", "YAML mapping 10^4 deep", ["run", "{d}/s.yaml"],
               {"s.yaml": "x: " + "{a: " * 10_000 + "1" + "}" * 10_000}),
          Case("deep nesting", "JSON trace 10^5 deep", ["run", "{d}/t.json"],
               {"t.json": "[" * 100_000 + "]" * 100_000}),
          Case("deep nesting", "sweep 10^4 deep", ["sweep", "{d}/w.yaml", "--out", "{d}/o"],
               {"w.yaml": "grid: " + "[" * 10_000 + "]" * 10_000})]
    # -- alias bombs
    for where, text in [("unknown key", "bogus: *a8\n"), ("faults", "faults: *a8\n"),
                        ("model", "model: {layers: *a8}\n"),
                        ("cluster.fabric", "cluster: {gpu: a100-80gb, fabric: *a8}\n")]:
        c.append(Case("alias bombs", f"billion laughs in {where}", ["run", "{d}/s.yaml"],
                      {"s.yaml": bomb() + "\n" + text}))
    c.append(Case("alias bombs", "billion laughs in a sweep file",
                  ["sweep", "{d}/w.yaml", "--out", "{d}/o"],
                  {"w.yaml": bomb() + "\nbase: default\ngrid: {parallelism.tp: *a8}\n"}))
    # -- NaN / infinities
    for key in ("model.hidden=.nan", "model.hidden=.inf", "training.tokens=.nan",
                "cluster.gpus=.inf"):
        c.append(Case("NaN/inf", f"--set {key}", ["run", *SMALL, "--set", key]))
    c += [Case("NaN/inf", "collective --bytes nan",
               ["collective", "--op", "all_reduce", "--bytes", "nan", "--gpus", "8"]),
          Case("NaN/inf", "collective --bytes inf",
               ["collective", "--op", "all_reduce", "--bytes", "inf", "--gpus", "8"]),
          Case("NaN/inf", "collective --link-bw nan",
               ["collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "8",
                "--topology", "ring", "--link-bw", "nan"]),
          Case("NaN/inf", "trace flops 1e308", ["run", "{d}/t.json", "--json"],
               {"t.json": trace(c_flops=1e308)}),
          Case("NaN/inf", "trace NaN literal", ["run", "{d}/t.json"],
               {"t.json": trace().replace("1000000000000.0", "NaN")}),
          Case("NaN/inf", "trace Infinity bytes", ["run", "{d}/t.json"],
               {"t.json": trace().replace("1048576", "Infinity")})]
    # -- huge sizes
    c += [Case("huge sizes", "collective --gpus 10^9",
               ["collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "1000000000"]),
          Case("huge sizes", "trace world_size 10^9", ["run", "{d}/t.json"],
               {"t.json": trace(world_size=10**9)}),
          Case("huge sizes", "trace placement GPU 10^9", ["run", "{d}/t.json"],
               {"t.json": trace(placement=[0, 10**9])}),
          Case("huge sizes", "trace bytes 10^30", ["run", "{d}/t.json"],
               {"t.json": trace(a_bytes=1e30)}),
          Case("huge sizes", "collective --bytes 10^30",
               ["collective", "--op", "all_reduce", "--bytes", "1e30", "--gpus", "8"])]
    for key in ("cluster.gpus=1048576", "run.replicas=1000000000", "training.global_batch=1000000000",
                "model.layers=1000000", "run.days=1000000"):
        c.append(Case("huge sizes", f"--set {key}", ["run", *SMALL, "--set", key]))
    # -- output paths
    ro = "/proc/clustersim"
    c += [Case("output paths", "--out under /proc (read-only)", ["run", *SMALL, "--out", ro]),
          Case("output paths", "--out is an existing file", ["run", *SMALL, "--out", "{d}/f"],
               {"f": "x"}),
          Case("output paths", "--chrome-trace is a folder", ["run", *SMALL, "--chrome-trace",
                                                             "{d}"]),
          Case("output paths", "--chrome-trace /dev/full",
               ["run", *SMALL, "--chrome-trace", "/dev/full"]),
          Case("output paths", "--chrome-trace under a file",
               ["run", *SMALL, "--chrome-trace", "{d}/f/t.json"], {"f": "x"}),
          Case("output paths", "--chrome-trace into a missing folder (created)",
               ["run", *SMALL, "--chrome-trace", "{d}/new/sub/t.json"], expect="exit0"),
          Case("output paths", "--out ''", ["run", *SMALL, "--out", ""]),
          Case("output paths", "--json > /dev/full", [], shell="{py} run {small} --json > /dev/full"),
          Case("output paths", "| head -c 10", [], expect="exit0",
               shell="{py} run {small} --chrome-trace /dev/stdout | head -c 10 >/dev/null; "
                     "exit ${{PIPESTATUS[0]}}"),
          Case("output paths", "sweep --out is a file", ["sweep", "{d}/w.yaml", "--out", "{d}/f"],
               {"f": "x", "w.yaml": "base: default\ngrid: {parallelism.tp: [8]}\n"})]
    # -- torn files
    c += [Case("torn files", "file-size limit on the Chrome trace", [], expect="exit2",
               shell="ulimit -f 50; {py} run {small} --chrome-trace {d}/t.json; rc=$?; "
                     "test ! -e {d}/t.json || python -c 'import json,sys; json.load(open(sys.argv[1]))' "
                     "{d}/t.json || exit 99; exit $rc"),
          Case("torn files", "torn last line of results.jsonl is repaired", [], expect="exit0",
               files={"w.yaml": SWEEP},
               shell="{py} sweep {d}/w.yaml --out {d}/o --no-progress >/dev/null && "
                     "printf '{{\"key\": \"x' >> {d}/o/results.jsonl && "
                     "{py} sweep {d}/w.yaml --out {d}/o --no-progress >/dev/null && "
                     "python -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "
                     "{d}/o/results.jsonl")]
    # -- stale results
    c += [Case("stale sweep resume", "base scenario file edited between runs", [],
               expect="exit2", files={"w.yaml": SWEEP.replace("base: default", "base: b.yaml"),
                                      "b.yaml": "model: gpt3-175b\n"},
               shell="{py} sweep {d}/w.yaml --out {d}/o --no-progress >/dev/null && "
                     "sed -i 's/gpt3-175b/{{preset: gpt3-175b, hidden: 8192}}/' {d}/b.yaml && "
                     "{py} sweep {d}/w.yaml --out {d}/o --no-progress"),
          Case("stale sweep resume", "fixed overrides edited: points recomputed", [],
               expect="exit0", files={"w.yaml": SWEEP, "w2.yaml": SWEEP.replace(
                   "global_batch: 16", "global_batch: 32")},
               shell="{py} sweep {d}/w.yaml --out {d}/o --no-progress >/dev/null && "
                     "{py} sweep {d}/w2.yaml --out {d}/o --no-progress --json | python -c "
                     "'import json,sys; sys.exit(json.load(sys.stdin)[\"resumed\"] != 0)'"),
          Case("stale sweep resume", "second sweep on a locked folder", [], expect="exit2",
               files={"w.yaml": SWEEP},
               shell="mkdir -p {d}/o && exec 9>{d}/o/.lock && flock -n 9 && "
                     "{py} sweep {d}/w.yaml --out {d}/o --no-progress"),
          Case("stale sweep resume", "--rank-by nosuchmetric",
               ["sweep", "{d}/w.yaml", "--out", "{d}/o", "--rank-by", "nosuchmetric",
                "--no-progress"], {"w.yaml": SWEEP}),
          Case("stale sweep resume", "failed run leaves no earlier result.json", [],
               expect="exit2",
               shell="{py} run {small} --out {d}/o >/dev/null && "
                     "{py} run {small} --set parallelism.tp=3 --out {d}/o; rc=$?; "
                     "test -e {d}/o/result.json && exit 99; exit $rc")]
    # -- duplicate keys
    c += [Case("duplicate keys", "scenario", ["run", "{d}/s.yaml"],
               {"s.yaml": scn + train + "cluster: {gpu: h100-sxm, gpus: 64}\n"}),
          Case("duplicate keys", "nested", ["run", "{d}/s.yaml"],
               {"s.yaml": scn + train.replace("16,", "16, global_batch: 32,")}),
          Case("duplicate keys", "sweep file", ["sweep", "{d}/w.yaml", "--out", "{d}/o"],
               {"w.yaml": SWEEP + "seeds: [0]\nseeds: [1]\n"}),
          Case("duplicate keys", "trace JSON", ["run", "{d}/t.json"],
               {"t.json": trace()[:-1] + ', "world_size": 2}'})]
    # -- trace field types
    for name, change in [("category as a list", {"c_category": ["gemm"]}),
                         ("algorithm as a list", {"a_algorithm": ["ring"]}),
                         ("meta as a list", {"meta": [1, 2]}),
                         ("meta as a string", {"meta": "abc"}),
                         ("meta.tokens_per_step 'abc'", {"meta": {"tokens_per_step": "abc"}}),
                         ("meta.tokens_per_step negative", {"meta": {"tokens_per_step": -5}}),
                         ("unknown category", {"c_category": "bogus"}),
                         ("flops as a string", {"c_flops": "1e12"}),
                         ("deps as a string", {"a_deps": "c"}),
                         ("name as a mapping", {"name": {"a": 1}}),
                         ("cycle", {"c_deps": ["a"]})]:
        c.append(Case("trace fields", name, ["run", "{d}/t.json"], {"t.json": trace(**change)}))
    # -- messages: one line, bounded, user's names
    c += [Case("bounded messages", "1 MB value under an unknown key", ["run", "{d}/s.yaml"],
               {"s.yaml": "bogus: " + "x" * 1_000_000 + "\n"}),
          Case("bounded messages", "collective --link-bw -1 (names --link-bw)",
               ["collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "8",
                "--topology", "ring", "--link-bw", "-1"])]
    # -- Python API
    api = "from sim.scenario.load import load_scenario\nfrom sim.scenario.execute import run_scenario\n"
    c += [Case("Python API", "None overrides", [], python=api + "load_scenario('default', None)"),
          Case("Python API", "dict as scenario", [],
               python=api + "run_scenario({'model': 'gpt3-175b'}, '.')"),
          Case("Python API", "assignment tp = 0 after validation", [],
               python=api + "s, _, f = load_scenario('default')\ns.parallelism.tp = 0\n"
                            "run_scenario(s, f)")]
    return c


SWEEP = ("base: default\nset: {cluster.gpus: 64, parallelism.dp: 1, training.global_batch: 16}\n"
         "grid: {parallelism.pp: [8]}\n")


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def run_case(case: Case, root: Path, timeout: float) -> tuple[str, str]:
    """(outcome, first stderr line) of one case."""
    with tempfile.TemporaryDirectory(prefix="adv-") as d:
        for name, data in case.files.items():
            p = Path(d) / name
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
        py = f"{sys.executable} -m sim.cli"
        env = {**os.environ, "PYTHONPATH": str(root)}
        if case.python is not None:
            cmd = [sys.executable, "-c",
                   "import sys\ntry:\n" + "".join("    " + ln + "\n" for ln in
                                                 case.python.splitlines())
                   + "except Exception as e:\n    from workloads.errors import InputError\n"
                     "    from pydantic import ValidationError\n"
                     "    print(type(e).__name__, str(e).splitlines()[-1], file=sys.stderr)\n"
                     "    sys.exit(2 if isinstance(e, (InputError, ValidationError)) else 1)\n"]
        elif case.shell is not None:
            cmd = ["bash", "-c", case.shell.format(py=py, d=d, small=" ".join(SMALL))]
        else:
            cmd = [sys.executable, "-m", "sim.cli", *[a.replace("{d}", d) for a in case.argv]]
        try:
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, timeout=timeout,
                                  preexec_fn=_limits)
        except subprocess.TimeoutExpired:
            return "hang", f"no answer in {timeout:g} s"
        err = proc.stderr.decode("utf-8", "replace").strip()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        first = lines[0][:160] if lines else ""
        if "Traceback" in err:
            return "traceback", lines[-1][:160] if lines else ""
        if "MemoryError" in err or proc.returncode in (-9, 137):
            return "hang", "out of memory"
        if proc.returncode == 2:
            return ("exit2" if len(lines) == 1 and len(lines[0]) <= 400 else "multiline"), first
        if proc.returncode == 0:
            return "exit0", first
        if proc.returncode == 3:
            return "exit3", first
        return "other", f"status {proc.returncode}: {first}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT), help="checkout to test (default: this one)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--only", default=None, help="run only this class")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    args = ap.parse_args(argv)
    rows: dict[str, collections.Counter] = {}
    passed: collections.Counter = collections.Counter()
    bad = 0
    for case in cases():
        if args.only and case.cls != args.only:
            continue
        outcome, line = run_case(case, Path(args.root), args.timeout)
        rows.setdefault(case.cls, collections.Counter())[outcome] += 1
        ok = outcome == case.expect
        passed[case.cls] += ok
        bad += not ok
        if args.verbose:
            mark = "ok " if ok else "BAD"
            print(f"{mark} {case.cls:<20} {case.name:<45} {outcome:<10} {line}", flush=True)
    print(f"\n{'class':<20} {'cases':>5} {'as expected':>11}  outcomes")
    for cls, counts in rows.items():
        seen = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        print(f"{cls:<20} {sum(counts.values()):>5} {passed[cls]:>11}  {seen}")
    total = sum(sum(v.values()) for v in rows.values())
    print(f"{'total':<20} {total:>5} {total - bad:>11}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

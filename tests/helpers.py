"""Small builders shared by tests."""
import contextlib
import io
from types import SimpleNamespace

from sim.compute import ComputeModel, Efficiency
from workloads.trace import from_json

#: A compute model where an op of F FLOPs takes F / 1e12 seconds.
UNIT_COMPUTE = ComputeModel(1e12, 1e12, {"default": Efficiency(1.0, 1.0)})


def trace(world, programs, groups=None, **extra):
    return from_json({"world_size": world, "groups": groups or {}, "programs": programs, **extra})


def one_line_error(proc, *needles):
    """Assert a CLI run failed as bad input: exit 2, one stderr line naming ``needles``."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0]


def run_cli(*args):
    """``clustersim ARGS`` in this process; the result looks like a finished subprocess
    (exit status, stdout and stderr)."""
    from sim.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:         # argparse's own errors
            code = e.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def small_job(model, gpus, par, batch, gpus_per_node=None):
    """(trace, A100 cluster graph, compute model) of a generated job of micro-batch 1
    (``gpus_per_node`` defaults to min(8, gpus))."""
    import topologies
    from sim.compute import compute_model
    from sim.scenario.load import parse_scenario
    from sim.scenario.workload import generate_workload
    scn = parse_scenario({"model": model, "cluster": {"gpu": "a100-80gb", "gpus": gpus},
                          "parallelism": par,
                          "training": {"global_batch": batch, "micro_batch": 1}}, "test")
    graph = topologies.build_cluster("a100-80gb", gpus,
                                     gpus_per_node=gpus_per_node or min(8, gpus))
    spec = topologies.gpu_spec("a100-80gb")
    return (generate_workload(scn)[0], graph,
            compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s))


def span_rows(step):
    """The spans of a step as sorted (class, stream, op, start, end, sync) tuples."""
    return sorted((s.cls, s.stream, s.op, s.start, s.end, s.sync) for s in step.spans)

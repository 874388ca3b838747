"""PyTorch profiler (Kineto) import: a real 2-rank gloo DDP trace, and a GPU-shaped trace."""
import json
from pathlib import Path

import pytest

import topologies
from sim.compute import ComputeModel, Efficiency
from sim.simulate import simulate_trace
from workloads.errors import InputError
from workloads.importers.kineto import load_kineto
from workloads.trace import from_json as trace_from_json

DATA = Path(__file__).resolve().parent / "data" / "kineto"
RANKS = [str(DATA / "rank0.json"), str(DATA / "rank1.json")]
NO_ROOFLINE = ComputeModel(1e15, 1e15, {"default": Efficiency(1.0, 1.0)})


def _raw(path):
    return json.loads(Path(path).read_text())["traceEvents"]


def test_ddp_buckets_become_all_reduces_sized_by_the_model_parameters():
    t = load_kineto(RANKS)
    assert t.world_size == 2 and [p.ranks for p in t.programs] == [[0], [1]]
    # the MLP 256-512-256-10 in fp32, in DDP's two buckets (last layers first):
    # (512*256 + 256) + (256*10 + 10) and 256*512 + 512 parameters
    sizes = [o.bytes for o in t.programs[0].ops if o.kind == "all_reduce"]
    assert sizes == [4 * 133898, 4 * 131584] * 2
    assert [o.bytes for o in t.programs[1].ops if o.kind == "all_reduce"] == sizes


def _direct_children_of_steps(evs):
    """Host events inside a ProfilerStep and inside no other event (by containment)."""
    steps = [e for e in evs if e["name"].startswith("ProfilerStep#")]
    host = [e for e in evs if e.get("cat") in ("cpu_op", "user_annotation")
            and e["tid"] == steps[0]["tid"] and e not in steps]

    def inside(a, b):
        return b is not a and b["ts"] <= a["ts"] and a["ts"] + a["dur"] <= b["ts"] + b["dur"]
    return steps, [e for e in host if not any(inside(e, b) for b in host)]


def test_host_time_is_conserved_blocked_collective_calls_are_not_compute():
    t = load_kineto(RANKS)
    for rank, path in enumerate(RANKS):
        evs = [e for e in _raw(path) if e.get("ph") == "X"]
        steps, tops = _direct_children_of_steps(evs)
        calls = sum(e["dur"] for e in evs if e["name"] == "c10d::allreduce_") * 1e-6
        compute = sum(o.duration_s for o in t.programs[rank].ops if o.is_compute)
        # every recorded top-level op is replayed once; time blocked in c10d calls
        # is the collectives', not compute
        assert len([o for o in t.programs[rank].ops if o.is_compute]) == len(tops)
        assert compute + calls == pytest.approx(sum(e["dur"] for e in tops) * 1e-6, rel=1e-9)
        assert compute + calls <= sum(e["dur"] for e in steps) * 1e-6


def test_waits_for_gradients_come_from_the_host_timeline():
    for prog in load_kineto(RANKS).programs:
        ops = {o.id: o for o in prog.ops}
        coll = [o for o in prog.ops if o.kind == "all_reduce"]
        # each all-reduce is issued by the backward op that made the c10d call
        assert all("AccumulateGrad" in ops[o.deps[0]].layer for o in coll)
        # the host idled until gradients arrived: in each profiled step some op
        # after the backward waits for an all-reduce (and only on all-reduces)
        order = [o.id for o in prog.ops]
        steps = [i for i, o in enumerate(prog.ops) if o.layer == "Optimizer.step#SGD.step"]
        waits = [order.index(o.id) for o in prog.ops if o.is_compute and o.deps]
        assert all(ops[d].kind == "all_reduce" for o in prog.ops if o.is_compute for d in o.deps)
        assert len(steps) == 2 and any(w < steps[0] for w in waits)
        assert any(steps[0] < w < steps[1] for w in waits)


def test_fixture_replays_end_to_end():
    t = load_kineto(RANKS)
    g = topologies.single_switch(2, 10e9, 1e-6)
    step = simulate_trace(t, g, NO_ROOFLINE)
    per_rank = [sum(o.duration_s for o in p.ops if o.is_compute) for p in t.programs]
    assert step.makespan_s >= max(per_rank)
    ar = sum(o.bytes for o in t.programs[0].ops if o.kind == "all_reduce")
    # at least the last bucket's all-reduce (2-rank ring: the whole buffer once) is exposed
    assert step.makespan_s < max(per_rank) + ar / 10e9 + 1e-3
    assert len([s for s in step.spans if s.kind == "all_reduce"]) == 8


def test_convert_command_and_errors(tmp_path):
    from sim.cli import main
    out = tmp_path / "k.json"
    assert main(["trace", "convert", "kineto", *RANKS, "-o", str(out)]) == 0
    from workloads.trace import load
    assert load(out).world_size == 2
    with pytest.raises(InputError, match="no profiler file for rank 1"):
        load_kineto(RANKS[:1])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"events": []}))
    with pytest.raises(InputError, match="bad.json: traceEvents: not a Chrome trace"):
        load_kineto([str(bad)])


def _gpu_trace(rank):
    """A GPU trace in Kineto's layout: a GEMM stream and an NCCL stream with syncs."""
    k = lambda name, stream, ts, dur, **args: {  # noqa: E731
        "ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": stream, "ts": ts,
        "dur": dur, "args": {"device": 0, "stream": stream, **args}}
    sync = lambda stream, on, ts: {  # noqa: E731
        "ph": "X", "cat": "cuda_sync", "name": "Wait on Stream", "pid": 0, "tid": stream,
        "ts": ts, "dur": 0, "args": {"stream": stream, "wait_on_stream": on}}
    return {"distributedInfo": {"backend": "nccl", "rank": rank, "world_size": 2},
            "traceEvents": [
                k("ampere_sgemm_128x64_nn", 7, 1000, 300),
                sync(13, 7, 1301),
                {"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "pid": 1, "tid": 1,
                 "ts": 1290, "dur": 5, "args": {"External id": 77, "Collective name": "allreduce",
                                                "In msg nelems": 2**20, "Out msg nelems": 2**20,
                                                "dtype": "Float"}},
                k("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)",
                  13, 1302, 900, **{"External id": 77}),
                k("ampere_sgemm_128x64_nn", 7, 1310, 200),
                sync(7, 13, 2203),
                k("elementwise_kernel", 7, 2204, 50)]}


def test_gpu_kernels_streams_and_waits(tmp_path):
    paths = []
    for r in range(2):
        p = tmp_path / f"gpu{r}.json"
        p.write_text(json.dumps(_gpu_trace(r)))
        paths.append(str(p))
    t = load_kineto(paths)
    ops = t.programs[0].ops
    assert [(o.kind, o.stream) for o in ops] == [
        ("compute", "stream7"), ("all_reduce", "stream13"), ("compute", "stream7"),
        ("compute", "stream7")]
    assert ops[1].bytes == 4 * 2**20 and ops[1].deps == (ops[0].id,)
    assert ops[3].deps == (ops[1].id,)
    g = topologies.single_switch(2, 10e9, 0.0)
    step = simulate_trace(t, g, NO_ROOFLINE)
    # gemm, then the all-reduce (2 ranks: the buffer crosses each link once), then the tail;
    # the second gemm overlaps the all-reduce. The tuner runs the all-reduce as a
    # Simple-protocol ring: 2 steps of its per-step overhead and its base latency
    from sim.collectives import PROTOCOLS
    simple = PROTOCOLS["simple"]
    ar = 4 * 2**20 / 10e9 + 2 * simple.inter_step_s + simple.base_latency_s
    expected = 300e-6 + ar + 50e-6
    assert step.makespan_s == pytest.approx(expected, rel=1e-9)


def _p2p_trace(rank, peer_key=True):
    """Rank 0 computes then sends 1 Mi floats to rank 1, which receives them and computes."""
    k = lambda name, stream, ts, dur, **args: {  # noqa: E731
        "ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": stream, "ts": ts,
        "dur": dur, "args": {"device": 0, "stream": stream, **args}}
    side, peer = ("send", 1) if rank == 0 else ("recv", 0)
    record = {"External id": 5, "Collective name": side, "In msg nelems": 2**20,
              "Out msg nelems": 2**20, "dtype": "Float", "Process Group Ranks": "[0, 1]",
              "Rank": peer}
    if peer_key:
        record["Dst Rank" if side == "send" else "Src Rank"] = peer
    sync = {"ph": "X", "cat": "cuda_sync", "name": "Wait on Stream", "pid": 0, "tid": 7,
            "ts": 1900, "dur": 0, "args": {"stream": 7, "wait_on_stream": 20}}
    p2p = k("ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)", 20, 1400, 400,
            **{"External id": 5})
    events = [{"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "pid": 1, "tid": 1,
               "ts": 1300, "dur": 5, "args": record}, p2p]
    if rank == 0:
        events = [k("ampere_sgemm_128x64_nn", 7, 1000, 300),
                  {"ph": "X", "cat": "cuda_sync", "name": "Wait on Stream", "pid": 0,
                   "tid": 20, "ts": 1350, "dur": 0, "args": {"stream": 20, "wait_on_stream": 7}},
                  *events]
    else:
        events += [sync, k("elementwise_kernel", 7, 1901, 50)]
    return {"distributedInfo": {"backend": "nccl", "rank": rank, "world_size": 2},
            "traceEvents": events}


@pytest.mark.parametrize("peer_key", [True, False])
def test_nccl_point_to_point_kernels_become_matched_sends_and_recvs(tmp_path, peer_key):
    paths = []
    for r in range(2):
        p = tmp_path / f"p2p{r}.json"
        p.write_text(json.dumps(_p2p_trace(r, peer_key)))
        paths.append(str(p))
    t = load_kineto(paths)
    send = next(o for o in t.programs[0].ops if o.kind == "send")
    recv = next(o for o in t.programs[1].ops if o.kind == "recv")
    assert (send.peer.rank, recv.peer.rank, send.tag, recv.tag) == (1, 0, 0, 0)
    assert send.bytes == recv.bytes == 4 * 2**20
    assert send.deps == (t.programs[0].ops[0].id,)          # waits for the gemm
    tail = t.programs[1].ops[-1]
    assert tail.kind == "compute" and tail.deps == (recv.id,)
    step = simulate_trace(t, topologies.single_switch(2, 10e9, 0.0), NO_ROOFLINE)
    # gemm, the transfer (one link each way at 10 GB/s, no latency), the tail kernel
    assert step.makespan_s == pytest.approx(300e-6 + 4 * 2**20 / 10e9 + 50e-6, rel=1e-9)


def test_point_to_point_kernel_without_its_record_is_a_clear_error(tmp_path):
    trace = _p2p_trace(0)
    trace["traceEvents"] = [e for e in trace["traceEvents"] if e["cat"] != "cpu_op"]
    p = tmp_path / "lone.json"
    p.write_text(json.dumps(trace))
    with pytest.raises(InputError, match=r"lone.json: traceEvents.*SendRecv.*no send/recv "
                       "record"):
        load_kineto([str(p)])


def _tp_dp_trace(rank):
    """4 GPUs: an all-reduce in the rank's tensor-parallel pair (process group 1 or 2),
    then one over the default group (which records no ranks), on one NCCL stream."""
    pair, name = ([0, 1], "1") if rank < 2 else ([2, 3], "2")
    events = []
    for i, (pg, ranks, nelems) in enumerate(((name, str(pair), 2**18), ("0", "[]", 2**20))):
        events.append({"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "pid": 1,
                       "tid": 1, "ts": 100 + 1000 * i, "dur": 5,
                       "args": {"External id": i, "Collective name": "allreduce",
                                "In msg nelems": nelems, "Out msg nelems": nelems,
                                "dtype": "Float", "Process Group Name": pg,
                                "Process Group Ranks": ranks}})
        events.append({"ph": "X", "cat": "kernel", "pid": 0, "tid": 13, "ts": 110 + 1000 * i,
                       "dur": 500, "name": "ncclDevKernel_AllReduce_Sum_f32_RING_LL(x)",
                       "args": {"stream": 13, "External id": i}})
    return {"distributedInfo": {"backend": "nccl", "rank": rank, "world_size": 4},
            "traceEvents": events}


def _write_all(tmp_path, make, n):
    paths = []
    for r in range(n):
        p = tmp_path / f"r{r}.json"
        p.write_text(json.dumps(make(r)))
        paths.append(str(p))
    return paths


def test_collectives_run_on_the_process_group_the_profiler_names(tmp_path):
    t = load_kineto(_write_all(tmp_path, _tp_dp_trace, 4))
    assert t.groups == {"world": [[0, 1, 2, 3]], "pg:1": [[0, 1]], "pg:2": [[2, 3]]}
    assert [o.group for o in t.programs[0].ops] == ["pg:1", "world"]
    assert [o.group for o in t.programs[3].ops] == ["pg:2", "world"]
    g = topologies.single_switch(4, 10e9, 0.0)
    step = simulate_trace(t, g, NO_ROOFLINE)
    # the pairs' all-reduces run side by side on disjoint links, then the world's:
    # the step is one pair all-reduce alone followed by the world all-reduce alone
    alone = []
    for ranks, nbytes in (([0, 1], 2**20), ([0, 1, 2, 3], 4 * 2**20)):
        ops = [{"id": "a", "kind": "all_reduce", "stream": "s", "bytes": nbytes, "group": "g"}]
        one = trace_from_json({"world_size": 4, "groups": {"g": [ranks]}, "programs": [
            {"ranks": ranks, "ops": ops},
            *([{"ranks": [2, 3], "ops": []}] if len(ranks) == 2 else [])]})
        alone.append(simulate_trace(one, g, NO_ROOFLINE).makespan_s)
    assert step.makespan_s == pytest.approx(sum(alone), rel=1e-9)


def test_one_process_group_with_two_rank_lists_is_an_error(tmp_path):
    def make(rank):
        d = _tp_dp_trace(rank)
        if rank == 2:                     # claims group "1" too, with other members
            d["traceEvents"][0]["args"]["Process Group Name"] = "1"
        return d
    with pytest.raises(InputError, match=r"r2.json: Process Group Ranks = \[2, 3\]: process "
                       r"group '1' has ranks \[2, 3\] here but \[0, 1\] in .*r0.json"):
        load_kineto(_write_all(tmp_path, make, 4))


@pytest.mark.parametrize("name, kind", [("Stream Wait Event", None),
                                        ("cuda_sync", "Stream Wait Event")])
def test_stream_waits_named_as_kineto_names_cupti_sync_types(tmp_path, name, kind):
    paths = []
    for r in range(2):
        d = _gpu_trace(r)
        for e in d["traceEvents"]:
            if e["cat"] == "cuda_sync":
                e["name"] = name
                if kind:
                    e["args"]["cuda_sync_kind"] = kind
        p = tmp_path / f"s{r}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    ops = load_kineto(paths).programs[0].ops
    assert ops[1].deps == (ops[0].id,) and ops[3].deps == (ops[1].id,)
    d = _gpu_trace(0)
    for e in d["traceEvents"]:
        if e["cat"] == "cuda_sync":
            e["name"] = "Context Sync"        # not a stream-to-stream wait: no dependency
    p = tmp_path / "ctx.json"
    p.write_text(json.dumps(d))
    ops = load_kineto([str(p), paths[1]]).programs[0].ops
    assert ops[1].deps == () and ops[3].deps == ()

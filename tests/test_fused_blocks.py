"""The compressed program form and fused stepping change nothing but speed.

Generated programs hold template instances instead of expanded ops; the
executor times a whole instance at once when all its inputs are known
(``fuse``), and the reference steps every op. Both must give exactly the
same spans (same floats, not merely close), the same per-class time
accounting and the same step time, folded and unfolded, with a straggler,
on layouts with 1F1B, interleaved, context-parallel, sequence-parallel,
ZeRO, expert and data-parallel traffic.
"""
import pytest

from sim.collectives import TopologyView
from sim.engine.chain_pass import ordered_positions, serialised_pieces
from sim.engine.private_families import _chain_test, ordered_ops, private_ops, serialised
from sim.engine.private_sends import private_sends
from sim.network.routing import Router
from sim.scenario import workload
from sim.simulate import simulate_trace
from workloads.generate import program as program_form
from workloads.trace import P2P, Program

from test_folding import LAYOUTS, TINY
from tests.helpers import small_job, span_rows

JOBS = LAYOUTS + [
    ("tp4-pp2-sp-overlap-param-gather", TINY, 16,
     {"tp": 4, "pp": 2, "sequence_parallel": True, "zero": 1, "overlap_param_gather": True}, 16),
    ("tp2-pp4-vpp2-sp-recompute", TINY, 16,
     {"tp": 2, "pp": 4, "vpp": 2, "schedule": "interleaved", "sequence_parallel": True,
      "recompute": "selective"}, 16),
]


def _same(fast, ref):
    assert span_rows(fast) == span_rows(ref)
    assert fast.makespan_s == ref.makespan_s == max(s.end for s in ref.spans)
    assert [r.to_json() for r in fast.ranks] == [r.to_json() for r in ref.ranks]
    assert fast.network.flows == ref.network.flows


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_fused_stepping_gives_the_same_spans(name, model, gpus, par, batch, fold):
    trace, graph, compute = small_job(model, gpus, par, batch)
    assert all(p.compressed for p in trace.programs)
    fast = simulate_trace(trace, graph, compute, fold=fold)
    ref = simulate_trace(trace, graph, compute, fold=fold, fuse=False)
    assert ref.span_log.blocks == []
    _same(fast, ref)


@pytest.mark.parametrize("name,model,gpus,par,batch", [JOBS[0], JOBS[1], JOBS[4]],
                         ids=[JOBS[0][0], JOBS[1][0], JOBS[4][0]])
def test_fused_stepping_with_a_straggler(name, model, gpus, par, batch):
    trace, graph, compute = small_job(model, gpus, par, batch)
    speeds = [1.0] * trace.world_size
    speeds[3] = 0.8
    fast = simulate_trace(trace, graph, compute, speeds=speeds)
    assert len(fast.classes) > 1
    _same(fast, simulate_trace(trace, graph, compute, speeds=speeds, fuse=False))


def test_blocks_are_fused_where_every_op_has_a_known_length():
    # tensor-parallel collectives inside a host are timed in closed form, so
    # every layer block of this pipeline is fused; only the sends are not
    trace, graph, compute = small_job(TINY, 16, {"tp": 8, "pp": 2}, 16)
    step = simulate_trace(trace, graph, compute)
    instances = sum(1 for p in trace.programs for u in p.pieces if not hasattr(u, "kind"))
    assert len(step.classes) == len(trace.programs) == 2
    assert len(step.span_log.blocks) == instances > 0
    kinds = {s.kind for s in step.span_log.recorded}
    assert kinds <= {"send", "recv", "compute", "all_reduce"}
    assert "send" in kinds


def test_compressed_programs_expand_to_the_reference_ops(monkeypatch):
    monkeypatch.setattr(workload, "TRACE_MEMO", False)
    for name, model, gpus, par, batch in JOBS:
        fast = small_job(model, gpus, par, batch)[0]
        monkeypatch.setattr(program_form, "COMPRESSED", False)
        ref = small_job(model, gpus, par, batch)[0]
        monkeypatch.setattr(program_form, "COMPRESSED", True)
        assert all(p.compressed for p in fast.programs)
        assert not any(p.compressed for p in ref.programs)
        assert [p.ops for p in fast.programs] == [p.ops for p in ref.programs], name
        assert [p.n_ops for p in fast.programs] == [len(p.ops) for p in ref.programs]
        for a, b in zip(fast.programs, ref.programs):
            assert a.find_ops(P2P) == b.find_ops(P2P) == [
                (i, op) for i, op in enumerate(b.ops) if op.kind in P2P]


@pytest.mark.parametrize("name,model,gpus,par,batch", [JOBS[4], JOBS[1]],
                         ids=[JOBS[4][0], JOBS[1][0]])
def test_private_analyses_on_compressed_programs(name, model, gpus, par, batch):
    trace, graph, compute = small_job(model, gpus, par, batch)
    flat = type(trace)(world_size=trace.world_size, groups=trace.groups,
                       placement=trace.placement,
                       programs=[Program(p.ranks, ops=list(p.ops)) for p in trace.programs])
    topo, router = TopologyView(graph), Router(graph)
    assert private_ops(trace, topo) == private_ops(flat, topo)
    sends = private_sends(trace, topo, router)
    assert sends == private_sends(flat, topo, router)
    assert any(sends)


def test_expanded_trace_simulates_like_the_compressed_one():
    trace, graph, compute = small_job(*JOBS[1][1:])
    flat = type(trace)(world_size=trace.world_size, groups=trace.groups,
                       placement=trace.placement,
                       programs=[Program(p.ranks, ops=p.ops) for p in trace.programs])
    _same(simulate_trace(trace, graph, compute), simulate_trace(flat, graph, compute))


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
def test_chain_pass_on_compressed_programs(name, model, gpus, par, batch):
    trace = small_job(model, gpus, par, batch)[0]
    families = sorted({op.group for p in trace.programs for op in p.distinct_ops()
                       if op.group is not None})
    chains = [(fam, frozenset()) for fam in families] + [(frozenset(families), frozenset()),
                                                           (frozenset(families), frozenset(P2P))]
    p2p_groups = frozenset({"pp", "cp"})
    for fam, p2p in chains:
        for prog in trace.programs:
            test = _chain_test(fam, p2p_groups if p2p else frozenset(), False)
            got = serialised_pieces(prog, test)
            assert got == serialised(prog.ops, fam, p2p_groups if p2p else frozenset())
            mask = [test(op) for op in prog.ops]
            ok = ordered_ops(prog.ops, mask)
            got = ordered_positions(prog, test)
            assert {i: (good, op.kind, op.group) for i, (good, op) in got.items()} == {
                i: (ok[i], op.kind, op.group) for i, op in enumerate(prog.ops) if mask[i]}
    assert families


def test_assigning_ops_replaces_the_compressed_form():
    trace = small_job(TINY, 4, {"pp": 2}, 4)[0]
    prog = trace.programs[0]
    ops = list(prog.ops)
    prog.ops = ops[:3]
    assert not prog.compressed and prog.n_ops == 3 and prog.ops == ops[:3]
    with pytest.raises(TypeError):
        Program([0])


def _two_stream_job():
    """Rank 1 receives from rank 0 and runs blocks whose first op waits for
    the block before while the second op (another stream) waits for nothing:
    such a block cannot be timed whole, and its second op runs at once."""
    import topologies
    from tests.helpers import UNIT_COMPUTE, trace as make_trace
    from workloads.generate.template import INCOMING, Instance, Step, Template
    block = Template((Step("a", "compute", "compute", (INCOMING,), flops=2e12),
                      Step("b", "compute", "side", (), flops=3e12),
                      Step("c", "compute", "compute", (0, 1), flops=1e12)), (2,), 0)
    t = make_trace(2, [
        {"ranks": [0], "ops": [{"id": "w", "kind": "compute", "stream": "compute", "flops": 4e12},
                               {"id": "s", "kind": "send", "stream": "pp", "bytes": 1e9,
                                "peer": {"group": "pp", "offset": 1}, "tag": 0, "deps": ["w"]}]},
        {"ranks": [1], "ops": [{"id": "r", "kind": "recv", "stream": "pp", "bytes": 1e9,
                                "peer": {"group": "pp", "offset": -1}, "tag": 0}]}],
        {"pp": [[0, 1]]})
    joined = Template(block.steps[:1] + (Step("b", "compute", "side", (INCOMING,), flops=3e12),)
                      + block.steps[2:], (2,), 0)
    recv = t.programs[1].ops[0]
    t.programs[1] = Program([1], pieces=[recv, Instance(block, "B", "L0", ("r",), 0),
                                         Instance(block, "C", "L0", ("B.c",), 0),
                                         Instance(joined, "D", "L0", ("C.c",), 0)])
    return t, topologies.build_cluster("a100-80gb", 2, gpus_per_node=1), UNIT_COMPUTE


def test_a_block_that_can_start_only_in_part_is_stepped_op_by_op():
    t, graph, compute = _two_stream_job()
    fast = simulate_trace(t, graph, compute)
    ref = simulate_trace(t, graph, compute, fuse=False)
    _same(fast, ref)
    spans = {s.op: s for s in fast.spans}
    assert spans["B.b"].start == 0.0 and spans["B.b"].end == 3.0
    assert spans["B.a"].start == spans["r"].end > 4.0
    assert spans["B.c"].start == spans["B.a"].end
    # so is the next one's (its second op runs as soon as the stream is free)
    assert spans["C.b"].start == 3.0 and spans["C.a"].start == spans["B.c"].end
    # the last waits on both streams for the one before: timed whole
    assert [b[2] for b in fast.span_log.blocks] == [2]
    assert spans["D.a"].start == spans["D.b"].start == spans["C.c"].end


def test_union_length_against_merging_by_hand():
    import numpy as np

    from sim.engine.metrics import union_length
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 50, 400):
        starts = rng.integers(0, 100, n).astype(float)
        ends = starts + rng.integers(0, 20, n)
        total, cur_s, cur_e = 0.0, None, None
        for s, e in sorted(zip(starts, ends)):
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        total += cur_e - cur_s
        assert union_length(starts, ends) == total
    assert union_length(np.array([]), np.array([])) == 0.0


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
def test_found_steps_are_the_found_ops_but_for_ids(name, model, gpus, par, batch):
    """``find_steps`` gives the positions, kinds, streams, peers, tags and
    sizes ``find_ops`` gives, without building the instances' ops."""
    trace = small_job(model, gpus, par, batch)[0]
    kinds = frozenset(("send", "recv", "all_reduce", "all_gather", "reduce_scatter"))
    for prog in trace.programs:
        assert prog.compressed

        def facts(found):
            return [(i, op.kind, op.stream, op.peer, op.tag, op.group, op.bytes)
                    for i, op in found]
        assert facts(prog.find_steps(kinds)) == facts(prog.find_ops(kinds))
    assert any(p.find_steps(kinds) for p in trace.programs)


@pytest.mark.parametrize("name,model,gpus,par,batch", [JOBS[0], JOBS[1], JOBS[4]],
                         ids=[JOBS[0][0], JOBS[1][0], JOBS[4][0]])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_span_columns_from_arrays_equal_the_reference(name, model, gpus, par, batch, fold,
                                                      monkeypatch):
    """SpanLog.columns reads the recorded spans with arrays; span by span
    (COLUMN_ARRAYS=False) gives the same classes in the same order, same values."""
    from sim.engine import plan
    trace, graph, compute = small_job(model, gpus, par, batch)
    speeds = [1.0] * trace.world_size
    speeds[1] = 0.9
    log = simulate_trace(trace, graph, compute, fold=fold, speeds=speeds).span_log
    assert log.recorded and log.blocks
    fast = log.columns()
    monkeypatch.setattr(plan, "COLUMN_ARRAYS", False)
    ref = log.columns()
    assert list(fast) == list(ref)
    for ci in ref:
        assert [a.dtype for a in fast[ci]] == [a.dtype for a in ref[ci]]
        assert [a.tolist() for a in fast[ci]] == [a.tolist() for a in ref[ci]]


@pytest.mark.parametrize("name,model,gpus,par,batch", [JOBS[0], JOBS[4], JOBS[-1]],
                         ids=[JOBS[0][0], JOBS[4][0], JOBS[-1][0]])
def test_plain_kernels_equal_the_recording_ones(name, model, gpus, par, batch):
    """The stepping kernel (lengths unpacked once, ends kept only where read)
    gives every stream's free time and every output's end exactly as the
    recording kernel, on random inputs for every template and extra step."""
    import numpy as np
    from sim.engine.plan import ProgramPlan
    trace, graph, compute = small_job(model, gpus, par, batch)
    rng = np.random.default_rng(3)
    tplans, cost, checked = {}, {}, 0
    for prog in trace.programs:
        plan = ProgramPlan(prog, compute, tplans, cost)
        for ip in plan.insts:
            tp = ip.tp
            for extra_step in {-1, ip.extra_step, 0}:
                plain, rec = tp.kernel(extra_step, False), tp.kernel(extra_step, True)
                for _ in range(3):
                    f = tuple(rng.uniform(0, 1, len(tp.names)).tolist())
                    x, y = rng.uniform(0, 1, 2).tolist()
                    d = tuple(rng.uniform(0, 0.1, len(tp.stream)).tolist())
                    times = rec(f, x, y, d)
                    frees = list(f)
                    for j, s in enumerate(tp.stream):     # a stream's last step sets it
                        frees[s] = times[2 * j + 1]
                    assert plain(f, x, y, d) == (tuple(frees),
                                                 tuple(times[2 * o + 1] for o in tp.outputs))
                    checked += 1
    assert checked

"""The generator on the real model math (workloads.models presets).

Ground truth here is structural and conservation-based: Megatron's two
tensor-parallel all-reduces per layer and direction (Shoeybi et al. 2019),
their all-gather / reduce-scatter form under sequence parallelism
(Korthikanti et al. 2022), and gradient bytes that add up to the model's
parameter count.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import pytest

import workloads.models as models
from workloads.errors import InputError
from workloads.generate import Layout, Training, generate
from workloads.trace import from_json, validate


def tp_kinds(prog, prefix):
    return Counter(o.kind for o in prog.ops if o.id.startswith(prefix) and o.group == "tp")


def test_gpt_tp_all_reduces_per_layer():
    t = generate("gpt3-1.3b", Layout(tp=2, pp=2, dp=2), Training(8, 1, 2048))
    validate(t)
    p = t.programs[0]
    assert tp_kinds(p, "F.mb0.c0.L3.") == {"all_reduce": 2}
    assert tp_kinds(p, "B.mb0.c0.L3.") == {"all_reduce": 2}


def test_gpt_sequence_parallel_collectives():
    t = generate("gpt3-1.3b", Layout(tp=2, pp=2, dp=2, sequence_parallel=True),
                 Training(8, 1, 2048))
    assert tp_kinds(t.programs[0], "F.mb0.c0.L3.") == {"all_gather": 2, "reduce_scatter": 2}
    assert "all_reduce" not in tp_kinds(t.programs[1], "F.mb0.c0.L20.")


def test_full_recompute_reruns_forward_comms():
    t = generate("gpt3-1.3b", Layout(tp=2, pp=1, dp=1, recompute="full"), Training(2, 1, 2048))
    p = t.programs[0]
    assert tp_kinds(p, "B.mb0.c0.L3.r.") == {"all_reduce": 2}
    assert tp_kinds(p, "B.mb0.c0.L3.") == {"all_reduce": 4}


@pytest.mark.parametrize("pp", [1, 2, 3])
def test_dp_gradient_bytes_sum_to_parameter_count(pp):
    spec = models.get_model("gpt3-1.3b")
    t = generate(spec, Layout(pp=pp, dp=2), Training(8, 1, 2048, grad_dtype_bytes=4))
    total = sum(o.bytes for p in t.programs for o in p.ops
                if o.kind == "all_reduce" and o.group == "dp")
    tied_copy = spec.vocab * spec.hidden if pp > 1 else 0   # output matrix on the last stage
    assert total == pytest.approx(4 * (models.param_count(spec) + tied_copy), rel=1e-12)


def test_moe_expert_gradients_on_edp():
    spec = models.get_model("mixtral-8x7b")
    t = generate(spec, Layout(tp=1, pp=4, dp=4, ep=2), Training(16, 1, 512))
    validate(t)
    expert = sum(o.bytes for p in t.programs for o in p.ops if o.group == "edp")
    _, per_layer = models.layer_params_split(spec, 0)
    assert expert == pytest.approx(2 * spec.layers * per_layer / 2)
    a2a = [o for o in t.programs[0].ops if o.id.startswith("F.mb0.c0.L0.")
           and o.kind == "all_to_all"]
    assert len(a2a) == 2 and {o.group for o in a2a} == {"ep"}


def test_context_parallel_ring_steps():
    t = generate("llama3-8b", Layout(tp=1, pp=1, dp=1, cp=4), Training(1, 1, 8192))
    ring = [o for o in t.programs[0].ops if o.id.startswith("F.mb0.c0.L0.cp_kv")]
    assert Counter(o.kind for o in ring) == {"send": 3, "recv": 3}


def test_meta_model_flops():
    spec = models.get_model("llama3-8b")
    t = generate(spec, Layout(tp=2, pp=2, dp=2, vpp=2, schedule="interleaved", zero=1),
                 Training(16, 1, 8192))
    tokens = 16 * 8192
    assert t.meta["tokens_per_step"] == tokens
    assert t.meta["model_flops_per_step"] == pytest.approx(
        models.model_flops_per_token(spec, 8192) * tokens)
    assert json.loads(json.dumps(t.to_json())) == from_json(t.to_json()).to_json()


def test_model_shape_errors_surface():
    with pytest.raises(InputError) as e:
        generate("llama3-8b", Layout(tp=16), Training(8, 1, 8192))   # 8 kv heads
    assert e.value.field == "parallelism.tp" and e.value.value == 16
    with pytest.raises(InputError):
        generate("no-such-model", Layout(), Training(8, 1, 2048))


def test_llama3_405b_pipeline_generates():
    # generation speed is measured in benchmarks/, not asserted here
    t = generate("llama3-405b", Layout(tp=8, pp=16, dp=2, sequence_parallel=True,
                                       recompute="selective"), Training(256, 1, 8192))
    assert t.meta["microbatches"] == 128 and len(t.programs) == 16
    # 126 layers over 16 stages: 14 stages of 8 layers, then 2 of 7
    layers = [len({o.layer for o in p.ops if o.layer and o.layer.startswith("L")})
              for p in t.programs]
    assert layers == [8] * 14 + [7] * 2

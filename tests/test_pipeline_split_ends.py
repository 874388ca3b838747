"""Megatron-Core's account_for_embedding/loss_in_pipeline_split: the embedding
and the loss each take one layer's place in the pipeline split."""
import pytest

from workloads import models
from workloads.errors import InputError
from workloads.generate import Layout, ModelCosts, Training, generate, layer_split
from workloads.generate.generator import check_job


def test_split_counts_the_ends_as_layers():
    # Llama 3.1 405B: 126 layers + embedding + loss = 128 slots, PP 16 x VP 8
    split = layer_split(126, 128, embedding=True, loss=True)
    assert len(split[0]) == 0 and len(split[-1]) == 0       # embedding only, loss only
    assert all(len(r) == 1 for r in split[1:-1])
    assert [i for r in split for i in r] == list(range(126))  # every layer once, in order
    # one end only: 10 layers + embedding = 11 slots over 4 stages (3, 3, 3, 2)
    assert [len(r) for r in layer_split(10, 4, embedding=True)] == [2, 3, 3, 2]
    assert [len(r) for r in layer_split(10, 4, loss=True)] == [3, 3, 3, 1]
    assert [len(r) for r in layer_split(10, 4)] == [3, 3, 2, 2]


def test_layout_refused_without_the_ends_runs_with_them():
    costs = ModelCosts(models.get_model("llama3-405b"))
    tr = Training(global_batch=64, micro_batch=1, seq_len=8192)
    plain = Layout(tp=4, pp=16, vpp=8, dp=1, schedule="interleaved", sequence_parallel=True)
    with pytest.raises(InputError, match="exceeds the model's 126 layers") as e:
        check_job(costs, plain, tr)
    assert e.value.field == "parallelism.vpp"
    ends = Layout(tp=4, pp=16, vpp=8, dp=1, schedule="interleaved", sequence_parallel=True,
                  embedding_in_split=True, loss_in_split=True)
    assert check_job(costs, ends, tr) == 64


def _compute_flops(program):
    return sum(o.flops for o in program.ops if o.kind == "compute")


def test_first_and_last_stage_carry_one_layer_fewer():
    spec = models.get_model({"preset": "llama3-8b", "layers": 10})
    tr = Training(global_batch=8, micro_batch=1, seq_len=2048)
    plain = generate(spec, Layout(pp=4), tr)
    ends = generate(spec, Layout(pp=4, embedding_in_split=True, loss_in_split=True), tr)
    # 10 layers: plain 3, 3, 2, 2; with the ends (12 slots) 2, 3, 3, 2
    layer = _compute_flops(plain.programs[1]) / 3
    for s, diff in enumerate((-1, 0, 1, 0)):
        assert _compute_flops(ends.programs[s]) - _compute_flops(plain.programs[s]) == \
            pytest.approx(diff * layer, rel=1e-9)


def test_flag_must_be_a_bool():
    with pytest.raises(InputError) as e:
        Layout(pp=2, embedding_in_split="yes")
    assert e.value.field == "parallelism.account_for_embedding_in_pipeline_split"

"""Folded and unfolded runs of the same job agree (design: scale section)."""
import pytest

from sim.scenario.load import parse_scenario
from sim.scenario.execute import run_scenario

TINY = {"layers": 8, "hidden": 512, "heads": 8, "ffn_hidden": 2048, "vocab": 8192,
        "seq_len": 512}
TINY_MOE = dict(TINY, moe={"experts": 8, "top_k": 2, "expert_ffn_hidden": 1024})

LAYOUTS = [
    ("tp2-pp2-dp4", TINY, 16, {"tp": 2, "pp": 2}, 32),
    ("tp8-pp4-dp2-interleaved", TINY, 64, {"tp": 8, "pp": 4, "vpp": 2,
                                           "schedule": "interleaved"}, 16),
    ("dp8-zero1", TINY, 8, {"zero": 1}, 16),
    ("tp2-dp8-zero3", TINY, 16, {"tp": 2, "zero": 3}, 16),
    ("tp2-cp2-pp2-dp2-sp", TINY, 16, {"tp": 2, "cp": 2, "pp": 2, "sequence_parallel": True}, 8),
    ("ep4-dp8-moe", TINY_MOE, 8, {"ep": 4}, 16),
    ("gpipe-pp4-dp4", TINY, 16, {"pp": 4, "schedule": "gpipe"}, 16),
    ("zero-bubble-pp4-tp2-dp4", TINY, 32, {"tp": 2, "pp": 4, "schedule": "zero-bubble"}, 32),
    ("tp8-pp2-dp16", TINY, 256, {"tp": 8, "pp": 2}, 32),
]


def _run(model, gpus, par, batch, fold, stragglers=()):
    scn = parse_scenario({"model": model, "cluster": {"gpu": "a100-80gb", "gpus": gpus},
                    "parallelism": par, "training": {"global_batch": batch, "micro_batch": 1},
                    "stragglers": list(stragglers), "sim": {"fold": fold}}, "test")
    return run_scenario(scn).result


@pytest.mark.parametrize("name,model,gpus,par,batch", LAYOUTS, ids=[l[0] for l in LAYOUTS])
def test_folded_equals_unfolded(name, model, gpus, par, batch):
    folded = _run(model, gpus, par, batch, True)
    flat = _run(model, gpus, par, batch, False)
    assert folded["sim"]["rank_classes"] < flat["sim"]["rank_classes"] == gpus
    assert folded["step_time_s"] == flat["step_time_s"]   # exactly: folding loses nothing


@pytest.mark.parametrize("name,model,gpus,par,batch", [LAYOUTS[0], LAYOUTS[1]],
                         ids=[LAYOUTS[0][0], LAYOUTS[1][0]])
def test_folded_equals_unfolded_with_a_straggler(name, model, gpus, par, batch):
    slow = [{"kind": "slow_gpu", "gpu": 3, "factor": 0.8}]
    folded = _run(model, gpus, par, batch, True, slow)
    flat = _run(model, gpus, par, batch, False, slow)
    base = _run(model, gpus, par, batch, True)
    assert folded["step_time_s"] == flat["step_time_s"]
    assert folded["step_time_s"] > base["step_time_s"]
    assert folded["sim"]["rank_classes"] < gpus

"""Model specs: presets, inline dicts, overrides and input errors."""
import pytest

from workloads.errors import InputError
from workloads.models import ModelSpec, get_model, param_count, preset_names


def test_every_preset_loads():
    names = preset_names()
    assert {"gpt3-175b", "llama3-405b", "mixtral-8x22b", "deepseek-v3"} <= set(names)
    for n in names:
        s = get_model(n)
        assert isinstance(s, ModelSpec) and s.name == n


def test_published_calibration_shapes():
    # Narayanan et al. SC'21 Table 1 / Korthikanti et al. 2022 Table 3
    for name, (l, h, a) in {"gpt-1.7b": (24, 2304, 24), "gpt-7.5b": (36, 4096, 32),
                            "gpt-39b": (48, 8192, 64), "gpt-145b": (80, 12288, 96),
                            "gpt-530b": (105, 20480, 128), "gpt-22b": (48, 6144, 64)}.items():
        s = get_model(name)
        assert (s.layers, s.hidden, s.heads, s.vocab, s.seq_len, s.ffn_hidden) == \
            (l, h, a, 51200, 2048, 4 * h)


def test_inline_dict_defaults_follow_megatron_gpt():
    s = get_model({"layers": 2, "hidden": 256, "heads": 4})
    assert (s.kv_heads, s.head_dim, s.ffn_hidden, s.activation, s.norm) == \
        (4, 64, 1024, "gelu", "layernorm")
    moe = get_model({"layers": 2, "hidden": 256, "heads": 4, "moe": {"experts": 4, "top_k": 1}})
    assert moe.moe.expert_ffn_hidden == 1024 and moe.is_moe_layer(1)


def test_preset_with_overrides():
    s = get_model({"preset": "llama3-8b", "seq_len": 4096})
    assert s.seq_len == 4096 and s.kv_heads == 8
    assert param_count(s) == param_count(get_model("llama3-8b"))
    assert get_model(s) is s


@pytest.mark.parametrize("model,field", [
    ({"layers": 2, "hidden": 256, "heads": 4, "hiden": 3}, "model.hiden"),
    ({"layers": 2, "hidden": 256, "heads": 4, "moe": {"experts": 4, "topk": 1}}, "model.moe.topk"),
    ({"preset": "gpt3-175b", "layer": 3}, "model.layer"),
    ({"preset": "gpt-9000"}, "model.preset"),
    ({"hidden": 256, "heads": 4}, "model.layers"),
    ({"layers": 2, "hidden": 256, "heads": 4, "activation": "relu"}, "model.activation"),
    ({"layers": 2, "hidden": 256, "heads": 4, "kv_heads": 3}, "model.kv_heads"),
    ({"layers": 2, "hidden": 250, "heads": 4}, "model.hidden"),
    ({"layers": 0, "hidden": 256, "heads": 4}, "model.layers"),
    ({"layers": 2.5, "hidden": 256, "heads": 4}, "model.layers"),
    ({"layers": 2, "hidden": 256, "heads": 4, "bias": "yes"}, "model.bias"),
    ({"layers": 2, "hidden": 256, "heads": 4, "moe": {"experts": 4, "top_k": 5}},
     "model.moe.top_k"),
    ({"layers": 2, "hidden": 256, "heads": 4, "moe": {"experts": 4, "top_k": 1,
                                                        "imbalance": 0.5}}, "model.moe.imbalance"),
    ({"layers": 2, "hidden": 256, "heads": 4, "mla": {"kv_lora_rank": 8}},
     "model.mla.qk_nope_head_dim"),
])
def test_bad_models_name_the_field(model, field):
    with pytest.raises(InputError) as e:
        get_model(model, file="scenario.yaml")
    assert e.value.field == field
    assert str(e.value).startswith("scenario.yaml: " + field)


def test_unknown_preset_name_lists_the_known_ones():
    with pytest.raises(InputError, match="gpt3-175b"):
        get_model("nope")
    with pytest.raises(InputError, match="model"):
        get_model(42)


def test_direct_construction_validates():
    with pytest.raises(InputError) as e:
        ModelSpec(name="x", layers=2, hidden=64, heads=4, kv_heads=4, head_dim=16,
                  ffn_hidden=256, vocab=100, seq_len=0)
    assert e.value.field == "model.seq_len"
    with pytest.raises(InputError) as e:
        ModelSpec(name="x", layers=2, hidden=64, heads=4, kv_heads=4, head_dim=16,
                  ffn_hidden=256, vocab=100, seq_len=8, norm="batchnorm")
    assert e.value.field == "model.norm"


def test_dtype_names():
    from workloads.models import dtype_bytes
    # low precisions keep bf16 weights and activations (only GEMMs run in them)
    assert [dtype_bytes(n) for n in ("bf16", "fp16", "fp8", "mxfp8", "nvfp4", "fp32")] == \
        [2, 2, 2, 2, 2, 4]
    with pytest.raises(InputError, match="training.dtype"):
        dtype_bytes("int4")

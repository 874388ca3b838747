"""Model math for clustersim: presets, parameter counts, FLOPs, per-layer ops, memory.

Everything here is a pure function of a :class:`ModelSpec` and a per-rank
:class:`Shape`; the only I/O is reading ``presets.yaml`` once.
"""
from workloads.models.ends import (embedding_backward, embedding_forward, head_backward,
                                   head_forward, optimizer_items)
from workloads.models.flops import (attention_flops_per_token, forward_flops_per_token,
                                    hardware_flops_per_token, model_flops_per_token)
from workloads.models.items import CommItem, ComputeItem, Item, Shape
from workloads.models.layer import layer_backward, layer_forward, layer_recompute
from workloads.models.memory import (activation_bytes_per_layer, memory_bytes,
                                     model_state_bytes)
from workloads.models.params import (active_param_count, embedding_params,
                                     gemm_params_per_token, head_params, layer_params,
                                     layer_params_on_rank, layer_params_split, param_count,
                                     representative_layer)
from workloads.models.shape_check import check_shape, dtype_bytes
from workloads.models.config import ModelConfig, get_model, parse_model
from workloads.models.spec import MLASpec, ModelSpec, MoESpec, preset_names

__all__ = [
    "CommItem", "ComputeItem", "Item", "MLASpec", "ModelConfig", "parse_model", "ModelSpec", "MoESpec", "Shape",
    "activation_bytes_per_layer", "active_param_count", "attention_flops_per_token",
    "check_shape", "dtype_bytes", "embedding_backward", "embedding_forward", "embedding_params",
    "forward_flops_per_token", "gemm_params_per_token", "get_model",
    "hardware_flops_per_token", "head_backward", "head_forward", "head_params",
    "layer_backward", "layer_forward", "layer_params", "layer_params_on_rank",
    "layer_params_split", "layer_recompute", "memory_bytes", "model_flops_per_token",
    "model_state_bytes", "optimizer_items", "param_count", "preset_names",
    "representative_layer",
]

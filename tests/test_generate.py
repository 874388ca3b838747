"""The training-trace generator, on a small hand-made cost model.

``ToyCosts`` mimics a Megatron transformer layer (Shoeybi et al. 2019:
two tensor-parallel all-reduces in the forward, two in the backward; with
sequence parallelism each becomes an all-gather + reduce-scatter pair,
Korthikanti et al. 2022), ring-attention KV exchange under context
parallelism and an all-to-all dispatch/combine for MoE layers. Its numbers are
simple closed forms so the tests can check the generator's bookkeeping
exactly without depending on the real model math.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

import pytest

from workloads.errors import InputError
from workloads.generate import Layout, Training, generate
from workloads.models.items import CommItem, ComputeItem
from workloads.trace import from_json, validate

H = 64  # toy hidden size


class ToyCosts:
    def __init__(self, layers=4, heads=8, hidden=H, experts=0, name="toy"):
        self.layers, self.heads, self.hidden, self.experts = layers, heads, hidden, experts
        self.name = name

    def _tokens(self, sh):
        return sh.micro_batch * sh.seq_len / sh.cp

    def _moe(self, layer):
        return self.experts > 0 and layer % 2 == 1

    def layer_forward(self, layer, sh):
        t, d = self._tokens(sh), sh.dtype_bytes
        act = t * self.hidden * d
        sp = sh.sequence_parallel
        g = lambda n, f: ComputeItem(n, f * t, act, "gemm")
        out = [ComputeItem("ln1", t, act, "norm")]
        if sp:
            out.append(CommItem("sp_ag1", "all_gather", "tp", act))
        out += [g("qkv", 3), ComputeItem("attn", 5 * t, act, "attention")]
        if sh.cp > 1:
            out.append(CommItem("cp_kv", "sendrecv_ring", "cp", act / 4, overlap_with="attn"))
        out.append(g("proj", 1))
        out.append(CommItem("sp_rs1", "reduce_scatter", "tp", act) if sp
                   else CommItem("tp_ar1", "all_reduce", "tp", act))
        out.append(ComputeItem("ln2", t, act, "norm"))
        if sp:
            out.append(CommItem("sp_ag2", "all_gather", "tp", act))
        if self._moe(layer):
            out += [CommItem("ep_dispatch", "all_to_all", "ep", act), g("experts", 8),
                    CommItem("ep_combine", "all_to_all", "ep", act)]
        else:
            out += [g("fc1", 4), g("fc2", 4)]
        out.append(CommItem("sp_rs2", "reduce_scatter", "tp", act) if sp
                   else CommItem("tp_ar2", "all_reduce", "tp", act))
        return out

    def layer_backward(self, layer, sh):
        t, d = self._tokens(sh), sh.dtype_bytes
        act = t * self.hidden * d
        sp = sh.sequence_parallel
        tp1 = ("all_gather" if sp else "all_reduce")
        b = [ComputeItem("mlp_dgrad", 8 * t, act, "gemm"),
             CommItem("tp_b2", tp1, "tp", act),
             ComputeItem("ln2_b", t, act, "norm"),
             ComputeItem("attn_dgrad", 14 * t, act, "attention"),
             CommItem("tp_b1", tp1, "tp", act),
             ComputeItem("ln1_b", t, act, "norm")]
        if sp:
            b += [CommItem("sp_rs_b2", "reduce_scatter", "tp", act),
                  CommItem("sp_rs_b1", "reduce_scatter", "tp", act)]
        w = [ComputeItem("mlp_wgrad", 8 * t, act, "gemm"),
             ComputeItem("attn_wgrad", 4 * t, act, "gemm")]
        return b, w

    def layer_recompute(self, layer, sh):
        if sh.recompute == "full":
            return self.layer_forward(layer, sh)
        if sh.recompute == "selective":
            return [ComputeItem("attn", 5 * self._tokens(sh), 1.0, "attention")]
        return []

    def embedding_forward(self, sh):
        return [ComputeItem("lookup", 0.0, self._tokens(sh) * self.hidden * 2, "embedding")]

    def embedding_backward(self, sh):
        return [ComputeItem("lookup_b", 0.0, self._tokens(sh) * self.hidden * 2, "embedding")]

    def head_forward(self, sh):
        return [ComputeItem("logits", 100 * self._tokens(sh), 1e3, "gemm"),
                ComputeItem("loss", self._tokens(sh), 1e3, "loss")]

    def head_backward(self, sh):
        return [ComputeItem("logits_b", 200 * self._tokens(sh), 1e3, "gemm")]

    def optimizer_items(self, params_on_rank):
        return [ComputeItem("adam", 10 * params_on_rank, 16 * params_on_rank, "optimizer")]

    def layer_params(self, layer, tp, ep):
        dense = 4 * self.hidden ** 2 / tp + 2 * self.hidden
        expert = self.experts * 8 * self.hidden ** 2 / (ep * tp) if self._moe(layer) else 0.0
        if not self._moe(layer):
            dense += 8 * self.hidden ** 2 / tp
        return dense, expert

    def embedding_params(self, tp):
        return 1000 * self.hidden / tp

    def head_params(self, tp, separate_stage):
        return (1000 * self.hidden if separate_stage else 0.0) / tp + self.hidden

    def model_flops_per_step(self, tokens):
        return 123.0 * tokens


def gen(costs=None, placement_order="tp,cp,dp,pp", global_batch=8, micro_batch=1,
        seq_len=32, dtype_bytes=2, grad_dtype_bytes=None, **layout):
    costs = costs or ToyCosts()
    return generate(None, Layout(**layout),
                    Training(global_batch, micro_batch, seq_len, dtype_bytes, grad_dtype_bytes),
                    placement_order=placement_order, costs=costs)

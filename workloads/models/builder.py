"""Collects a forward op list together with the backward ops each forward op implies.

Cost conventions (per ONE micro-batch on ONE rank, ``d`` = bytes per element):

* GEMM ``[m x k] @ [k x n]``: ``2 m k n`` FLOPs, ``(m k + k n + m n) d`` bytes
  (each operand read once, the output written once). Its backward is an
  input-gradient GEMM ``dX = dY W^T`` (part "B") and a weight-gradient GEMM
  ``dW = X^T dY`` (part "W"), each with the forward's FLOPs and bytes — so
  backward GEMMs cost exactly 2x forward (Narayanan et al., SC'21, sec. 5.1).
* Norms and elementwise ops: bytes of their inputs and outputs, a few FLOPs
  per element (``NORM_FLOPS_PER_ELEM``, ``ELEM_FLOPS_PER_ELEM``); they are
  memory-bound, so the FLOP figures only need the right order of magnitude.
* Every GEMM carries its shape (``dims``: output rows, output columns,
  reduction, and for grouped expert GEMMs the number of groups) for the
  compute model's tile and wave quantisation.

Low precision (``precision`` fp8, mxfp8 or nvfp4) follows Transformer
Engine's recipes as Megatron-Core runs them (TE docs, "Using FP8 with
Transformer Engine" and the low-precision training chapter): the GEMMs of
the transformer layers (``lowp=True``: QKV, projections, MLP and expert
FC1/FC2) run on the low-precision tensor cores — category ``gemm_<p>`` —
reading ``GEMM_INPUT_BYTES[p]`` bytes per input element (scales included)
and writing their output in the working dtype; the attention core,
router, embedding and output layer stay in bf16. Each low-precision GEMM
adds memory-bound casts: forward, the input is quantised into a row-wise
and a column-wise copy (the latter kept for the weight gradient; read
``d``, write ``2 q`` per element); backward, the output gradient likewise.
Weights are quantised once per step (see ``ends.optimizer_items``) and the
per-tensor amax reductions are negligible.
"""
from __future__ import annotations

from workloads.models.items import CommItem, ComputeItem, Item

NORM_FLOPS_PER_ELEM = 5.0       # mean, variance, scale, shift (forward)
NORM_BWD_FLOPS_PER_ELEM = 8.0
ELEM_FLOPS_PER_ELEM = 2.0       # e.g. dropout + residual add
CAST_FLOPS_PER_ELEM = 2.0       # amax, scale

#: bytes per element of a GEMM input in each low precision: FP8 1; MXFP8 one
#: 8-bit E8M0 scale per 32 values; NVFP4 4-bit values with one FP8 scale per
#: 16 (OCP Microscaling spec v1.0; NVIDIA NVFP4 format description)
GEMM_INPUT_BYTES = {"fp8": 1.0, "mxfp8": 1.0 + 1.0 / 32, "nvfp4": 0.5 + 1.0 / 16}


class OpList:
    """Forward items in order, plus the backward pieces each one contributes.

    ``layer_backward`` runs the pieces in reverse forward order; each
    piece's own items are given in their backward execution order.
    """

    def __init__(self, dtype_bytes: int, precision: str = "bf16"):
        self.d = float(dtype_bytes)
        self.precision = precision
        self.q = GEMM_INPUT_BYTES.get(precision)
        self.forward: list[Item] = []
        self._b: list[list[Item]] = []
        self._w: list[list[Item]] = []

    # -- generic -------------------------------------------------------------
    def add(self, item: Item | None, b: list[Item] = (), w: list[Item] = ()) -> None:
        if item is not None:
            self.forward.append(item)
        self._b.append(list(b))
        self._w.append(list(w))

    def backward(self) -> tuple[list[Item], list[Item]]:
        bpart = [it for piece in reversed(self._b) for it in piece]
        wpart = [it for piece in reversed(self._w) for it in piece]
        return bpart, wpart

    # -- typed helpers -------------------------------------------------------
    def gemm(self, name: str, m: float, k: float, n: float,
             weight_copies: float = 1.0, pre_b: list[Item] = (), lowp: bool = True) -> None:
        """A GEMM of ``m`` rows; ``weight_copies`` counts distinct weight
        matrices read (grouped expert GEMMs read every local expert's weight,
        ``m / weight_copies`` rows each). ``pre_b`` items run just before its
        input-gradient GEMM. ``lowp``: runs in the low precision, if any."""
        flops = 2.0 * m * k * n
        g = max(1.0, weight_copies)
        mg = m / g
        fwd_dims, dgrad_dims, wgrad_dims = (mg, n, k, g), (mg, k, n, g), (k, n, mg, g)
        if self.q is None or not lowp:
            nbytes = (m * k + weight_copies * k * n + m * n) * self.d
            self.add(ComputeItem(name, flops, nbytes, "gemm", fwd_dims),
                     b=[*pre_b, ComputeItem(name + "_dgrad", flops, nbytes, "gemm", dgrad_dims)],
                     w=[ComputeItem(name + "_wgrad", flops, nbytes, "gemm", wgrad_dims)])
            return
        q, d, cat = self.q, self.d, "gemm_" + self.precision
        nbytes = (m * k + weight_copies * k * n) * q + m * n * d
        cast = CAST_FLOPS_PER_ELEM
        self.add(ComputeItem(name + "_cast", cast * m * k, m * k * (d + 2 * q), "elementwise"))
        self.add(ComputeItem(name, flops, nbytes, cat, fwd_dims),
                 b=[*pre_b, ComputeItem(name + "_dcast", cast * m * n, m * n * (d + 2 * q),
                                "elementwise"),
                    ComputeItem(name + "_dgrad", flops, nbytes, cat, dgrad_dims)],
                 w=[ComputeItem(name + "_wgrad", flops, nbytes, cat, wgrad_dims)])

    def norm(self, name: str, rows: float, width: float) -> None:
        elems = rows * width
        self.add(ComputeItem(name, NORM_FLOPS_PER_ELEM * elems,
                             (2 * elems + 2 * width) * self.d, "norm"),
                 b=[ComputeItem(name + "_b", NORM_BWD_FLOPS_PER_ELEM * elems,
                                (3 * elems + 2 * width) * self.d, "norm")])

    def elementwise(self, name: str, elems_in: float, elems_out: float,
                    flops_per_out: float = ELEM_FLOPS_PER_ELEM,
                    bwd_elems: float | None = None) -> None:
        """Forward reads ``elems_in`` and writes ``elems_out`` elements; the
        backward moves ``bwd_elems`` (default: in + out) elements."""
        bwd = elems_in + elems_out if bwd_elems is None else bwd_elems
        self.add(ComputeItem(name, flops_per_out * elems_out,
                             (elems_in + elems_out) * self.d, "elementwise"),
                 b=[ComputeItem(name + "_b", flops_per_out * elems_out, bwd * self.d,
                                "elementwise")])

    def comm(self, name: str, kind: str, group: str, nbytes: float,
             b: list[Item] = (), overlap_with: str | None = None) -> None:
        self.add(CommItem(name, kind, group, nbytes, overlap_with), b=b)

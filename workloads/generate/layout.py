"""What the generator is asked to build: the parallel layout and the training
batch. Both validate their own fields on construction (InputError naming the
scenario field, e.g. ``parallelism.tp``); checks that need the model live in
:func:`workloads.generate.generator.generate`.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.errors import InputError

RECOMPUTE = ("none", "selective", "full")

#: PyTorch DDP's default gradient bucket (``bucket_cap_mb=25``), bytes.
DEFAULT_BUCKET_BYTES = 25 * 2**20


def _pos_int(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError("must be a positive integer", field=field, value=value)


def _bool(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise InputError("must be true or false", field=field, value=value)


@dataclass(frozen=True)
class Layout:
    """The parallel layout of a training job.

    ``tp``/``pp``/``dp``/``cp``: tensor, pipeline, data and context parallel
    degrees (world size = tp * pp * dp * cp). ``ep``: expert parallelism,
    carved out of the dp * cp ranks as in Megatron-LM (ep must divide dp * cp;
    expert weights are then replicated over the dp * cp / ep "edp" ranks).
    ``vpp``: model chunks per device (interleaved schedule only).
    ``zero``: 0 = plain data parallelism (gradient all-reduce); 1 and 2 =
    sharded optimizer (gradient reduce-scatter, parameter all-gather after
    the step); 3 = parameters sharded too (per-layer all-gather before use,
    gradient reduce-scatter after each layer's backward; Rajbhandari et al.,
    "ZeRO", SC'20). ``gradient_bucket_bytes``: data-parallel reduction bucket
    size in bytes (default 25 MiB, PyTorch DDP's). ``overlap_grad_reduce``:
    start each bucket's reduction as soon as its gradients are final (True) or
    after the whole backward pass (False). ``tp_comm_overlap``: pipeline the
    sequence-parallel all-gathers and reduce-scatters with the GEMMs next to
    them (Megatron-Core / Transformer Engine userbuffers).
    ``overlap_param_gather``: ZeRO 1/2 parameter all-gathers run under the
    next forward pass instead of after the optimizer. ``etp``: expert
    tensor parallelism under MoE parallel folding (None: experts split by
    ``tp`` and ``ep`` carved out of dp * cp); with it, ``ep * etp`` ranks of
    the tp * cp * dp ranks of a stage hold one copy of the experts and
    ``edp = tp * cp * dp / (ep * etp)`` copies exist. ``embedding_in_split``
    and ``loss_in_split``: the pipeline split counts the embedding (the
    output layer and loss) as one more layer, placed first in the first
    (last in the last) virtual stage, as Megatron-Core's
    ``account_for_embedding_in_pipeline_split`` and
    ``account_for_loss_in_pipeline_split`` do (see ``layer_split``).
    """

    @property
    def edp(self) -> int:
        """Expert data parallelism: copies of each expert's weights."""
        if self.etp is None:
            return self.dp * self.cp // self.ep
        return self.tp * self.cp * self.dp // (self.ep * self.etp)

    tp: int = 1
    pp: int = 1
    dp: int = 1
    vpp: int = 1
    cp: int = 1
    ep: int = 1
    sequence_parallel: bool = False
    zero: int = 0
    schedule: str = "1f1b"
    recompute: str = "none"
    gradient_bucket_bytes: float = DEFAULT_BUCKET_BYTES
    overlap_grad_reduce: bool = True
    tp_comm_overlap: bool = False
    overlap_param_gather: bool = False
    etp: int | None = None
    moe_sync_free: bool = False
    embedding_in_split: bool = False
    loss_in_split: bool = False

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "dp", "vpp", "cp", "ep"):
            _pos_int(getattr(self, name), f"parallelism.{name}")
        if self.etp is not None:
            _pos_int(self.etp, "parallelism.etp")
            if (self.tp * self.cp * self.dp) % (self.ep * self.etp):
                raise InputError(f"ep * etp must divide tp * cp * dp = "
                                 f"{self.tp * self.cp * self.dp} (MoE parallel folding)",
                                 field="parallelism.etp", value=self.etp)
        _bool(self.sequence_parallel, "parallelism.sequence_parallel")
        _bool(self.overlap_grad_reduce, "parallelism.overlap_grad_reduce")
        _bool(self.tp_comm_overlap, "parallelism.tp_comm_overlap")
        _bool(self.overlap_param_gather, "parallelism.overlap_param_gather")
        _bool(self.moe_sync_free, "parallelism.moe_sync_free")
        _bool(self.embedding_in_split, "parallelism.account_for_embedding_in_pipeline_split")
        _bool(self.loss_in_split, "parallelism.account_for_loss_in_pipeline_split")
        if isinstance(self.zero, bool) or self.zero not in (0, 1, 2, 3):
            raise InputError("must be 0, 1, 2 or 3", field="parallelism.zero", value=self.zero)
        if self.recompute not in RECOMPUTE:
            raise InputError(f"must be one of {', '.join(RECOMPUTE)}",
                             field="parallelism.recompute", value=self.recompute)
        if not isinstance(self.schedule, str):
            raise InputError("must be a schedule name", field="parallelism.schedule",
                             value=self.schedule)
        b = self.gradient_bucket_bytes
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not b > 0:
            raise InputError("must be a positive number of bytes",
                             field="parallelism.gradient_bucket_bytes", value=b)

    @property
    def world_size(self) -> int:
        return self.tp * self.pp * self.dp * self.cp


@dataclass(frozen=True)
class Training:
    """One optimizer step's batch.

    ``global_batch`` and ``micro_batch`` in sequences, ``seq_len`` in tokens,
    ``dtype_bytes`` the bytes of an activation / parameter element (2 for
    bf16), ``grad_dtype_bytes`` the bytes per gradient element in the
    data-parallel reduction (None = ``dtype_bytes``; 4 for fp32 reduction).
    ``precision``: what the layer GEMMs run in (bf16, fp16, fp8, mxfp8,
    nvfp4; see ``workloads.models.builder``). ``optimizer_state_bytes`` per
    Adam moment and ``master_weight_bytes`` per master weight (4 = fp32; see
    ``workloads.models.memory``). ``fp8_params``: the layer weights are kept
    only as FP8 / MXFP8 tensors (Megatron-Core ``--fp8-param-gather``).
    """

    global_batch: int
    micro_batch: int
    seq_len: int
    dtype_bytes: int = 2
    grad_dtype_bytes: int | None = None
    flash_attention: bool = True
    precision: str = "bf16"
    optimizer_state_bytes: float = 4.0
    master_weight_bytes: float = 4.0
    fp8_params: bool = False

    def __post_init__(self) -> None:
        for name in ("global_batch", "micro_batch", "seq_len", "dtype_bytes"):
            _pos_int(getattr(self, name), f"training.{name}")
        if self.grad_dtype_bytes is not None:
            _pos_int(self.grad_dtype_bytes, "training.grad_dtype_bytes")
        _bool(self.flash_attention, "training.flash_attention")
        _bool(self.fp8_params, "training.fp8_params")

    @property
    def grad_bytes(self) -> int:
        return self.grad_dtype_bytes if self.grad_dtype_bytes is not None else self.dtype_bytes

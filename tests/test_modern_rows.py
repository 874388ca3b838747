"""benchmarks/modern_rows.py: how calibration rows become scenarios."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "modern_rows.py"


def _mod():
    spec = importlib.util.spec_from_file_location("modern_rows", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ROW = {"id": 9999, "system": "DGX-GB200", "precision": "NVFP4", "model_key": "llama3.1_405b",
       "gpus": 256, "gbs": 1536, "mbs": 1, "seq_len": 8192, "tp": 4, "pp": 16, "cp": 1,
       "vp": 8, "tokens_per_sec_per_gpu": 1000, "release": "26.06 NeMo container"}


def test_split_that_needs_the_ends_counts_them():
    m = _mod()
    scn, why = m.scenario(dict(ROW))            # 126 layers over 16 x 8: 128 slots
    assert why is None
    par = scn["parallelism"]
    assert par["account_for_embedding_in_pipeline_split"] is True
    assert par["account_for_loss_in_pipeline_split"] is True
    even, _ = m.scenario({**ROW, "pp": 2, "vp": 7})     # 126 = 14 x 9: plain split
    assert "account_for_embedding_in_pipeline_split" not in even["parallelism"]


def test_h100_blockwise_fp8_runs_on_fp8_tensor_cores():
    m = _mod()
    row = {**ROW, "system": "DGX-H100", "precision": "FP8 blockwise/MX", "vp": 1, "pp": 8}
    assert m.scenario(row)[0]["training"]["dtype"] == "fp8"
    gb = {**row, "system": "DGX-GB200"}
    assert m.scenario(gb)[0]["training"]["dtype"] == "mxfp8"


def test_rows_of_the_validation_suite_run_as_their_cases():
    m = _mod()
    known = m.validation_scenarios()
    # row 9 (Nemotron-4 340B on 128 H100) keeps NeMo 24.07's bf16 optimizer state
    assert known[9]["training"]["optimizer_dtype"] == "bf16"
    assert known[41]["cluster"]["software"] == "nemo-25.02"


def test_gb200_rows_use_the_nvlink_segments_of_the_slurm_launcher():
    # Megatron-Bridge's Slurm executor: --segment = all nodes up to 18 trays,
    # else the largest divisor of the node count up to 18 (4 GPUs per tray)
    m = _mod()
    seg = m.nvlink_segment_gpus
    assert [seg(g) for g in (8, 64, 72, 128, 144, 256, 512)] == [8, 64, 72, 64, 72, 64, 64]
    assert seg(1024) == 64 and seg(96 * 4) == 64 and seg(68 * 4) == 68
    scn, _ = m.scenario(dict(ROW))
    assert scn["cluster"]["gpus_per_node"] == 64
    h100, _ = m.scenario({**ROW, "system": "DGX-H100", "precision": "FP8"})
    assert "gpus_per_node" not in h100["cluster"]


def test_fp8_rows_keep_primary_fp8_weights_except_blockwise():
    m = _mod()
    fp8, _ = m.scenario({**ROW, "precision": "FP8-CS"})
    assert fp8["training"]["fp8_params"] is True
    blockwise, _ = m.scenario({**ROW, "system": "DGX-H100", "precision": "FP8 blockwise/MX"})
    assert blockwise["training"]["fp8_params"] is False

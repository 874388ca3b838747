"""The README's Python API rejects wrong argument types and invalid assignments clearly."""
import pytest
from pydantic import ValidationError

from sim.scenario.load import load_scenario
from sim.scenario.execute import run_scenario
from workloads.errors import InputError


@pytest.mark.parametrize("overrides", [None, "cluster.gpus=64", [64], {"cluster.gpus": 64}])
def test_overrides_must_be_a_list_of_strings(overrides):
    with pytest.raises(InputError, match="'KEY=VALUE' string") as err:
        load_scenario("default", overrides)
    assert err.value.field == "overrides"


def test_a_dict_is_not_a_scenario():
    with pytest.raises(InputError, match="run_scenario takes a Scenario .* got dict"):
        run_scenario({"model": "gpt3-175b"})


def test_a_checked_scenario_is_immutable_and_copies_are_derived_afresh():
    # the job (layout, cluster) is derived once when the scenario is checked, so an
    # assignment would leave it stale: every assignment is refused, valid or not
    scn, _, _ = load_scenario("default", ["cluster.gpus=64", "parallelism.dp=1",
                                          "training.global_batch=16"])
    with pytest.raises(ValidationError, match="frozen"):
        scn.parallelism.tp = 0
    with pytest.raises(ValidationError, match="frozen"):
        scn.parallelism.schedule = "round-robin"
    with pytest.raises(ValidationError, match="frozen"):
        scn.cluster.gpus = "many"
    with pytest.raises(ValidationError, match="frozen"):
        scn.parallelism.pp = 4
    assert scn.parallelism.tp == 8 and scn.job.layout.pp == 8
    fewer = scn.model_copy(update={"training": scn.training.model_copy(
        update={"global_batch": 8})})
    assert fewer.job.microbatches == 8 and scn.job.microbatches == 16


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_leaves_the_collector_as_it_found_it(fails):
    """run_scenario freezes the long-lived trace and spans while it runs (so
    collections skip them) and unfreezes them when it returns or fails."""
    import gc
    scn, _, _ = load_scenario("default", ["cluster.gpus=64", "parallelism.dp=1",
                                          "training.global_batch=16"])
    if fails:
        scn = scn.model_copy(update={"trace": "no-such-trace.json"})
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    if fails:
        with pytest.raises(InputError):
            run_scenario(scn)
    else:
        assert run_scenario(scn).result["step_time_s"] > 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_run_leaves_a_disabled_collector_disabled():
    """The trace is built with the collector off; one the caller turned off
    stays off, and nothing stays frozen."""
    import gc
    scn, _, _ = load_scenario("default", ["cluster.gpus=64", "parallelism.dp=1",
                                          "training.global_batch=16"])
    gc.disable()
    try:
        assert run_scenario(scn).result["step_time_s"] > 0
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()

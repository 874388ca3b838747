"""The README's Python API rejects wrong argument types and invalid assignments clearly."""
import pytest
from pydantic import ValidationError

from sim.scenario.load import load_scenario
from sim.scenario.runner import run_scenario
from workloads.errors import InputError


@pytest.mark.parametrize("overrides", [None, "cluster.gpus=64", [64], {"cluster.gpus": 64}])
def test_overrides_must_be_a_list_of_strings(overrides):
    with pytest.raises(InputError, match="'KEY=VALUE' string") as err:
        load_scenario("default", overrides)
    assert err.value.field == "overrides"


def test_a_dict_is_not_a_scenario():
    with pytest.raises(InputError, match="run_scenario takes a Scenario .* got dict"):
        run_scenario({"model": "gpt3-175b"})


def test_assignments_after_loading_are_validated():
    scn, _, _ = load_scenario("default", ["cluster.gpus=64", "parallelism.dp=1",
                                          "training.global_batch=16"])
    with pytest.raises(ValidationError, match="greater than 0"):
        scn.parallelism.tp = 0
    with pytest.raises(ValidationError):
        scn.parallelism.schedule = "round-robin"
    with pytest.raises(ValidationError):
        scn.cluster.gpus = "many"
    assert scn.parallelism.tp == 8                  # the rejected values were not kept
    scn.parallelism.pp = 8
    assert scn.parallelism.pp == 8

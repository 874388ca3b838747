"""Loading scenarios: YAML files, built-in presets, trace files, ``--set`` overrides.

:func:`parse_scenario` checks every section and every cross-section rule
(layout, batch, cluster, checkpoint, run) before anything is simulated; its
errors name the file, the field and the value.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from sim.scenario.config import Scenario
from topologies.errors import TopologyError
from workloads.errors import InputError
from workloads.inputs import parse_yaml
from workloads.readers import read_text
from workloads.schema import pydantic_error

DEFAULT = "default"


def preset_names() -> list[str]:
    folder = resources.files("sim").joinpath("data/scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, label: str) -> dict:
    data = parse_yaml(text, label)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("a scenario must be a mapping of keys", file=label, field="(top)",
                         value=type(data).__name__)
    return data


def exists(path: Path) -> bool:
    """``path.exists()``, False for names the OS refuses (too long, NUL bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def raw_scenario(spec: str | None) -> tuple[dict, str, Path]:
    """The scenario dict named by ``spec``, a label for messages, and its folder."""
    if spec is None:
        spec = DEFAULT
    path = Path(spec)
    if path.suffix == ".json":
        if not exists(path):
            raise InputError("no such trace file", file=spec)
        return {"name": path.stem, "trace": str(path.resolve())}, spec, path.parent
    if path.suffix in (".yaml", ".yml") or exists(path):
        return _read_yaml(read_text(path, "scenario"), spec), spec, path.parent
    if spec in preset_names():
        text = resources.files("sim").joinpath(f"data/scenarios/{spec}.yaml").read_text()
        return _read_yaml(text, f"preset '{spec}'"), f"preset '{spec}'", Path.cwd()
    raise InputError("no such scenario file or preset (presets: "
                     f"{', '.join(preset_names())})", field="SCENARIO", value=spec)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``KEY.SUB=VALUE`` overrides (values parsed as YAML scalars)."""
    if isinstance(overrides, (str, bytes)) or not isinstance(overrides, (list, tuple)):
        raise InputError("overrides must be a list of 'KEY=VALUE' strings, e.g. "
                         "['cluster.gpus=64']", field="overrides", value=overrides)
    for item in overrides:
        if not isinstance(item, str):
            raise InputError("an override must be a 'KEY=VALUE' string", field="overrides",
                             value=item)
        if "=" not in item:
            raise InputError("expected KEY=VALUE", field="--set", value=item)
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None or isinstance(nxt, str) and part == "model":
                nxt = {"preset": nxt} if isinstance(nxt, str) else {}
                node[part] = nxt
            if not isinstance(nxt, dict):
                raise InputError("cannot set a sub-key of a non-mapping", field="--set",
                                 value=item)
            node = nxt
        node[parts[-1]] = value
    return data


def parse_scenario(data: dict, label: str, *, check: bool = True) -> Scenario:
    """The checked scenario of ``data`` (raises :class:`InputError` naming ``label``).

    ``check=False`` checks every section but not the rules between them (for
    a base whose layout is about to be replaced, as in a layout search).
    """
    try:
        scn = Scenario.model_validate(data)
        return scn.check() if check else scn
    except ValidationError as e:
        raise pydantic_error(e, label) from None
    except TopologyError as e:
        raise InputError(e.message, file=label, field=e.field, value=e.value) from None
    except InputError as e:
        raise e.in_file(label) from None


def _renamed(data: dict, overrides: list[str]) -> dict:
    """The scenario's name followed by the overrides, unless ``name`` itself is set."""
    keys = [o.split("=", 1)[0].strip() for o in overrides]
    if not overrides or "name" in keys or not isinstance(data.get("name"), str):
        return data
    return {**data, "name": f"{data['name']} [{', '.join(o.strip() for o in overrides)}]"}


def load_scenario(spec: str | None, overrides: list[str] = ()) -> tuple[Scenario, str, Path]:
    """The checked scenario named by ``spec`` with ``overrides``, its label and folder."""
    data, label, folder = raw_scenario(spec)
    data = _renamed(apply_overrides(data, overrides), list(overrides))
    return parse_scenario(data, label), label, folder

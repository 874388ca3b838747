"""User-facing errors.

Every mistake a user can make in an input (a broken YAML file, an unknown key,
an impossible parallel layout, a malformed or stuck trace) is raised as a
:class:`UserError`. The CLI turns it into exit status 2 and one line on stderr;
it never shows a traceback.
"""
from workloads.errors import InputError

UserError = InputError


class SimulationStuck(InputError):
    """The trace can never finish: some ops wait for partners that never come."""


__all__ = ["UserError", "InputError", "SimulationStuck"]

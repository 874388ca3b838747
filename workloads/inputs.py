"""Reading user files: YAML with located errors, pydantic errors as InputError."""
from __future__ import annotations

from workloads.readers import parse_yaml, read_yaml
from workloads.schema import pydantic_error

__all__ = ["parse_yaml", "read_yaml", "pydantic_error"]

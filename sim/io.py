"""Output files written atomically, and JSON that is always valid JSON.

Every output file (``result.json``, Chrome traces, sweep files, figures, CSV)
goes through :func:`atomic_open`: the bytes are written to a temporary file in
the destination folder, flushed and fsynced, then renamed over the target. A
full disk, a file-size limit or a crash leaves the previous file (or none) —
never a truncated one. Missing parent folders are created.

A failure to write is an :class:`OutputError` (a user error, exit status 2)
naming the path and the reason, e.g. ``out/result.json: cannot write: Read-only
file system``.

JSON output is strict: NaN and infinities (which ``json.dumps`` would print as
the non-JSON tokens ``NaN`` / ``Infinity``) become ``null``, numpy scalars and
arrays become numbers and lists.

    >>> dumps_json({"a": float("nan"), "b": [1.5, float("inf")]})
    '{"a": null, "b": [1.5, null]}'
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from workloads.errors import InputError


class OutputError(InputError):
    """An output file or folder cannot be written (exit status 2)."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output_path(path: str | Path, what: str = "output") -> Path:
    """``path`` as a Path; an empty path is an :class:`OutputError`."""
    if path is None or str(path).strip() == "":
        raise OutputError("must be a non-empty path", field=what, value=str(path or ""))
    return Path(path)


def ensure_dir(path: str | Path, what: str = "--out") -> Path:
    """Create folder ``path`` (and parents); errors name the folder and the reason."""
    p = check_output_path(path, what)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError("cannot create folder: a file of that name exists", file=str(p)) \
            from None
    except OSError as e:
        raise OutputError(f"cannot create folder: {_reason(e)}", file=str(p)) from None
    if not p.is_dir():
        raise OutputError("not a folder", file=str(p))
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError("cannot write into folder: permission denied", file=str(p))
    return p


def remove_stale(path: str | Path) -> None:
    """Delete an earlier output at ``path`` (if any), so a failed run leaves none behind."""
    p = Path(path)
    if p.is_dir():
        raise OutputError("is a folder, expected a file path", file=str(p))
    if not p.is_file() or p.is_symlink():       # devices, pipes and links are left alone
        return
    try:
        p.unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(f"cannot replace earlier output: {_reason(e)}", file=str(p)) from None


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Open a temporary file next to ``path``; on success fsync it and rename it onto ``path``.

    ``mode`` is ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``. If the
    body raises, the temporary file is removed and ``path`` is left untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    target = check_output_path(path, "output file")
    if target.is_dir():
        raise OutputError("is a folder, expected a file path", file=str(target))
    ensure_dir(target.parent if str(target.parent) else ".", "output folder")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    if target.exists() and not target.is_file():      # a device or pipe: write in place
        with _special(target, mode, kwargs) as fh:
            yield fh
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise OutputError(f"cannot write: {_reason(e)}", file=str(target)) from None
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as e:
        _unlink(tmp)
        raise OutputError(f"cannot write: {_reason(e)}", file=str(target)) from None
    except BaseException:
        _unlink(tmp)
        raise


@contextlib.contextmanager
def _special(target: Path, mode: str, kwargs: dict) -> Iterator[Any]:
    """A device or named pipe (``/dev/null``, ``/dev/stdout``) is written, never replaced."""
    try:
        with open(target, mode, **kwargs) as fh:
            yield fh
    except BrokenPipeError:                 # a reader that stopped early (`| head`): not ours
        raise
    except OSError as e:
        raise OutputError(f"cannot write: {_reason(e)}", file=str(target)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def finite(obj: Any) -> Any:
    """``obj`` with NaN/infinite floats replaced by None and numpy values made plain."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) or k is None else k:
                finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    tolist = getattr(obj, "tolist", None)       # numpy scalars and arrays
    if callable(tolist):
        return finite(tolist())
    try:
        return finite(float(obj))
    except (TypeError, ValueError):
        return str(obj)


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (never NaN or Infinity; see :func:`finite`)."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as strict JSON to ``path`` atomically."""
    write_text(path, dumps_json(obj, indent) + "\n")


def save_figure(fig, path: str | Path, **kwargs) -> None:
    """``fig.savefig`` to ``path`` atomically (format from the suffix)."""
    fmt = kwargs.pop("format", None) or Path(path).suffix.lstrip(".") or None
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **kwargs)

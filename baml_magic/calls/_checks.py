"""Checks of our own arguments, made before any work starts: a bad value is a TypeError or ValueError at once.

Each says the parameter's name and what it takes; none hangs, sends or loses anything.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _optional_number(value: object, name: str, kind: str, what: str, least: float, *, strict: bool) -> float | None:
    """None, or a finite number above ``least`` (``strict``) or at least it: a TypeError names what type is
    wanted (``kind``), a ValueError what values (``what``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {kind}, got {value!r:.40}")
    if not math.isfinite(value) or value < least or (strict and value == least):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def checked_timeout(value: object, name: str = "timeout") -> float | None:
    """A deadline in seconds: a positive, finite number, or None."""
    return _optional_number(value, name, "a number of seconds", "a positive, finite number of seconds", 0,
                            strict=True)


def checked_wait(value: object, name: str = "timeout") -> float | None:
    """How long to wait for something in seconds: zero or more, finite, or None (as long as it takes)."""
    return _optional_number(value, name, "a number of seconds or None", "a number of seconds (0 or more), or None",
                            0, strict=False)


def checked_count(value: object, name: str, least: int = 1) -> int:
    """A whole number of at least ``least`` (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of at least {least}, got {value!r:.40}")
    if value < least:
        raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")
    return value


def checked_rate(value: object, name: str) -> float | None:
    """A limit per minute: a positive, finite number, or None (no limit)."""
    return _optional_number(value, name, "a number per minute or None", "a positive number per minute, or None", 0,
                            strict=True)


def checked_names(value: object, name: str) -> list[str]:
    """A list of names: a list or tuple of strings (a lone string is not read as its letters)."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of names, got the string {value!r:.40}: write [{value!r:.40}]")
    try:
        names: list[object] = list(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{name} must be a list of names, got {value!r:.40}") from None
    for item in names:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a list of names, got {item!r:.40} in it")
    return [str(item) for item in names]


def checked_version(value: object, name: str = "against") -> str | int | None:
    """A version as people name one: a number from 1, ``"v2"``, a hash prefix, ``"previous"``, or None."""
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a version number, 'v2', a hash prefix or 'previous', got {value!r:.40}")
    if value < 1:
        raise ValueError(f"{name}: versions are numbered from 1, got {value}")
    return value


def checked_folder(value: object, name: str = "folder") -> str | None:
    """A folder to write into, or None: not a file, not under one, writable where it exists."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise TypeError(f"{name} must be a folder's path, got {value!r:.40}")
    path = Path(value).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{name} {path}: {existing} is a file, not a folder; give a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path}: {existing} is not writable; give a folder you can write to")
    return str(path)

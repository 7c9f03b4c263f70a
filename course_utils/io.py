"""Atomic writes: nothing a learner or instructor made is lost to a half-written file.

Each writer writes to a temporary file in the same folder, flushes it to disk, then renames
it over the target (``os.replace`` is atomic on POSIX and Windows). A reader of the target
sees the old file or the new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def atomic_save_npz(path, arrays: dict) -> Path:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def load_npz(path) -> dict | None:
    """The arrays in ``path``, or None when it is missing or unreadable (then regenerate)."""
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (FileNotFoundError, OSError, ValueError, EOFError):
        return None


def atomic_torch_save(obj, path) -> Path:
    import torch
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)
    return Path(path)

"""Atomic writes and the one cache (the spine of every lesson): nothing is lost to a half-written file.

Each writer writes to a temporary file in the same folder, flushes it to disk, then renames
it over the target (``os.replace`` is atomic on POSIX and Windows). A reader of the target
sees the old file or the new one, never a torn one.

:func:`cached` is the course's one "build once, save atomically, load next time" helper:
every trained teacher and tokenizer is cached through it, in a folder whose name holds a
hash of its configuration (:func:`cache_entry`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
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


# --------------------------------------------------------------------------------------
# The one cache: build once, save atomically, load next time
# --------------------------------------------------------------------------------------
def config_hash(config, length: int = 12) -> str:
    """A short stable hash of a JSON-able ``config`` (the part of a cache key that changes
    whenever anything the cached thing depends on changes)."""
    src = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(src.encode()).hexdigest()[:length]


def cache_entry(kind: str, name: str, config, suffix: str = "") -> Path:
    """The path of one cache entry: ``cache_dir()/kind/name-HASHsuffix`` (HASH of ``config``).

    Without a ``suffix`` the entry is a folder; with one (``".pt"``) a single file.
    """
    from .config import cache_dir
    return cache_dir() / kind / f"{name}-{config_hash(config)}{suffix}"


def save_dir_atomically(path, save) -> Path:
    """Call ``save(tmp_dir)``, then swap ``tmp_dir`` into place as ``path`` (replacing an old one).

    The folder is written whole beside ``path`` and renamed, so an interrupted run leaves no
    half-written entry (only a hidden ``.NAME.*.tmp`` folder, removed the next time).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        save(str(tmp))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


@contextlib.contextmanager
def build_lock(path):
    """Hold an exclusive lock on the cache entry (or folder) ``path`` while it is built.

    Two processes that need the same entry at once (two notebooks, a notebook and a test run in
    parallel) then build it once: the second waits, and finds the entry ready. The lock is a
    hidden file beside ``path`` (``.NAME.lock``), released when the process ends however it
    ends. Where the operating system has no ``fcntl`` (Windows) it is a no-op.
    """
    try:
        import fcntl
    except ImportError:   # Windows: no lock, the atomic rename still keeps entries whole
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached(path, build, save, load, retrain: bool = False, what: str = "cache entry",
           reload: bool = False):
    """The one cache of the course: ``(value, from_cache)`` for the entry ``path``.

    If ``path`` holds a complete entry, ``load(path)`` reads it back. Otherwise (or with
    ``retrain=True``) ``build()`` makes the value, ``save(value, tmp)`` writes it into a
    temporary folder (or file, when ``path`` has a suffix such as ``.pt``) that is then
    swapped into place atomically, and the built value is
    returned (read back with ``load(path)`` instead when ``reload=True``). An entry that cannot be loaded (damaged, or half-deleted by hand) is reported and
    rebuilt, never a crash. Build the path with :func:`cache_entry`, so the key holds a hash
    of everything the value depends on.
    """
    path = Path(path)
    is_file = bool(path.suffix)
    if path.exists() and not retrain:
        try:
            return load(path), True
        except Exception as error:  # a damaged entry is rebuilt, not a crash
            print(f"The cached {what} at {path} could not be loaded ({type(error).__name__}: "
                  f"{error}); rebuilding it.", file=sys.stderr)
            _remove(path)
    with build_lock(path):
        if path.exists() and not retrain:   # built by another process while this one waited
            try:
                return load(path), True
            except Exception:
                _remove(path)
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):   # from an interrupted save
            _remove(leftover)
        value = build()
        if is_file:
            with atomic_path(path, suffix=path.suffix) as tmp:
                save(value, str(tmp))
        else:
            save_dir_atomically(path, lambda tmp: save(value, tmp))
    return (load(path) if reload else value), False


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def cached_pretrained(kind: str, name: str, config, build, retrain: bool = False,
                      what: str = "model"):
    """A transformers model through :func:`cached`: built once by ``build()``, saved with
    ``save_pretrained`` into ``cache_entry(kind, name, config)``, read back with
    ``from_pretrained`` (in eval mode) the next time."""
    def load(path):
        from transformers import AutoModelForCausalLM
        return AutoModelForCausalLM.from_pretrained(path).eval()

    model, _ = cached(cache_entry(kind, name, config), build,
                      lambda m, tmp: m.save_pretrained(tmp), load, retrain=retrain, what=what)
    return model

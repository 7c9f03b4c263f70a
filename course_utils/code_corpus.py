"""The capstone's code corpus: the running Python's own standard-library source (lesson 13).

Every Python installation carries tens of megabytes of real, PSF-licensed Python code in
``Lib/`` (``sysconfig.get_paths()["stdlib"]``). The capstone trains a small code model on it,
offline, on every machine:

* ``stdlib_files()`` -- the ``.py`` files of the standard library (``site-packages`` left
  out), as ``(module path, file)`` pairs in a fixed order (read only when needed);
* ``load_code_corpus(max_chars)`` -- a :class:`course_utils.text.Corpus` split **by module**:
  a module goes wholly to training or wholly to the held-out half (chosen by a hash of its
  path, so the split is the same on every machine and run), so the held-out perplexity
  measures code the model has never seen, not other lines of files it trained on. Modules are
  cut into chunks of about ``chunk_chars`` at top-level statement boundaries;
* ``code_data(profile)`` -- the corpus, the course's BPE tokenizer trained on its training
  half (lesson 05's :func:`course_utils.tokenizer.load_tokenizer`, cached) and the packed
  train / held-out blocks (:func:`course_utils.text.pack_blocks`: concatenate, cut into
  fixed-length blocks, so no position is wasted on padding), sized by ``size("code_lm")``.

Taught in lesson 13.
"""
from __future__ import annotations

import functools
import hashlib
import sysconfig
from pathlib import Path
from types import SimpleNamespace

from .config import size
from .text import Corpus, pack_blocks
from .tokenizer import load_tokenizer

SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


def stdlib_root() -> Path:
    """The folder of the running interpreter's standard library (``Lib/``)."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path | None = None) -> list[tuple[str, Path]]:
    """``(relative path, file)`` of every ``.py`` file of the standard library, sorted by path;
    third-party packages (``site-packages``) are left out."""
    return list(_stdlib_files(str(root or stdlib_root())))


@functools.lru_cache(maxsize=2)
def _stdlib_files(root: str) -> tuple:
    base = Path(root)
    if not base.is_dir():
        raise RuntimeError(f"The standard library folder {base} does not exist: this Python "
                           "ships without its source (a minimal build?). Use a full Python install.")
    out = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base)
        if not any(part in SKIP_DIRS for part in rel.parts):
            out.append((rel.as_posix(), path))
    if not out:
        raise RuntimeError(f"No Python source found under {base}.")
    return tuple(out)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def held_out(module: str, valid_every: int = 10) -> bool:
    """Whether ``module`` (a relative path) belongs to the held-out split: one module in
    ``valid_every``, chosen by a hash of its path (the same everywhere, every run)."""
    if valid_every < 2:
        raise ValueError(f"valid_every must be at least 2, got {valid_every}.")
    return int(hashlib.sha1(module.encode()).hexdigest(), 16) % valid_every == 0


def code_chunks(source: str, chunk_chars: int = 4000) -> list[str]:
    """Cut one module into chunks of about ``chunk_chars``, at lines that start a top-level
    statement (a ``def``, ``class``, assignment... at column 0), so a chunk rarely begins in
    the middle of a function. A single statement longer than ``chunk_chars`` stays whole."""
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be positive, got {chunk_chars}.")
    chunks, current = [], []
    size_now = 0
    for line in source.splitlines(keepends=True):
        top = line[:1] not in ("", " ", "\t", "\n", "#", ")", "]", "}")
        if top and current and size_now + len(line) > chunk_chars:
            chunks.append("".join(current))
            current, size_now = [], 0
        current.append(line)
        size_now += len(line)
    if current:
        chunks.append("".join(current))
    return [c for c in chunks if c.strip()]


def load_code_corpus(max_chars: int | None = None, valid_every: int = 10, chunk_chars: int = 4000,
                     root: Path | None = None) -> Corpus:
    """The standard library's source as a :class:`~course_utils.text.Corpus`, split by module.

    ``max_chars`` (None: everything) bounds the training text; the held-out half gets about
    ``max_chars / valid_every``. Modules are taken in the order of a hash of their path (a
    fixed shuffle), so a small corpus still mixes many parts of the library.

    Taught in lesson 13.
    """
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be positive (or None for all), got {max_chars}.")
    modules = sorted(stdlib_files(root), key=lambda m: hashlib.sha1(m[0].encode()).hexdigest())
    train, valid = [], []
    budget = {True: None if max_chars is None else max(1, max_chars // valid_every), False: max_chars}
    used = {True: 0, False: 0}
    for name, path in modules:
        side = held_out(name, valid_every)
        if budget[side] is not None and used[side] >= budget[side]:
            if all(budget[s] is not None and used[s] >= budget[s] for s in (True, False)):
                break
            continue
        for chunk in code_chunks(_read(path), chunk_chars):
            if budget[side] is not None and used[side] >= budget[side]:
                break
            (valid if side else train).append(chunk)
            used[side] += len(chunk)
    return Corpus("stdlib-code", train, valid)


def code_data(profile: str | None = None, tokenizer=None, **overrides) -> SimpleNamespace:
    """Corpus, tokenizer and packed blocks of the capstone, sized by ``size("code_lm")``.

    Returns a namespace with ``corpus``, ``tokenizer``, ``train`` and ``valid`` (LongTensors
    of shape ``(blocks, block_size)``), ``block_size`` and ``cfg``. Pass a Hub teacher's
    ``tokenizer`` to cut the same code with its vocabulary.

    Taught in lesson 13.
    """
    cfg = {**vars(size("code_lm", profile)), **overrides}
    corpus = load_code_corpus(cfg["code_chars"])
    tokenizer = tokenizer or load_tokenizer(corpus, cfg["vocab_size"])
    block = cfg["block_size"]
    train, valid = (pack_blocks(texts, tokenizer, block, tensor=True) for texts in (corpus.train, corpus.valid))
    if cfg.get("valid_blocks") is not None:
        valid = valid[:cfg["valid_blocks"]]
    return SimpleNamespace(corpus=corpus, tokenizer=tokenizer, block_size=block, cfg=cfg,
                           train=train, valid=valid)

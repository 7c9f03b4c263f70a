"""Text for the language-model lessons, offline first (taught in lesson 05).

* **Offline** (the default): the English documentation that ships inside every CPython --
  ``pydoc_data.topics``, the pages ``help("if")`` shows, about 465k characters -- plus the
  module docstrings of a fixed list of standard-library modules (read from their source
  files with ``ast``, never imported). Real prose and code examples that no one in this
  course wrote, present on every machine that has Python.
* **Online**: TinyStories (Eldan & Li 2023, arXiv:2305.07759) through ``datasets``;
  offline it is refused with a clear message.

The split is deterministic: the text is cut into chunks of about ``chunk_chars``
characters at paragraph boundaries, exact duplicates are dropped (the pages repeat some
lists), and every ``valid_every``-th chunk goes to validation,
so both halves cover the same kinds of pages.

``pack_blocks`` tokenizes texts, joins them with the end-of-text token and cuts the token
stream into fixed-length blocks: a ``datasets.Dataset`` with an ``input_ids`` column in
torch format, ready for a plain PyTorch loop or a ``transformers.Trainer``.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field

from .config import OfflineError, is_online

# Standard-library modules whose docstrings are prose (not just a one-line summary).
DOCSTRING_MODULES = (
    "abc", "argparse", "ast", "asyncio.events", "base64", "bdb", "bisect", "calendar", "cgitb",
    "cmd", "code", "codecs", "collections", "colorsys", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest", "email", "enum",
    "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob",
    "heapq", "hmac", "html.parser", "imaplib", "inspect", "ipaddress", "json", "logging",
    "mailbox", "netrc", "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle",
    "pickletools", "pprint", "profile", "pstats", "queue", "quopri", "random", "re",
    "reprlib", "sched", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket",
    "socketserver", "statistics", "string", "subprocess", "tabnanny", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "token", "tokenize", "trace", "traceback", "typing",
    "unittest", "uuid", "warnings", "weakref", "webbrowser", "zipfile", "zipimport",
)


@dataclass
class Corpus:
    """The training and validation texts of one corpus (lists of documents/chunks)."""
    name: str
    train: list = field(default_factory=list)
    valid: list = field(default_factory=list)

    @property
    def train_chars(self) -> int:
        return sum(map(len, self.train))

    @property
    def valid_chars(self) -> int:
        return sum(map(len, self.valid))

    def fingerprint(self) -> str:
        """A short hash of the exact texts: caches of tokenizers and teachers are keyed by it."""
        h = hashlib.sha1()
        for part in ("train", *self.train, "valid", *self.valid):
            h.update(part.encode("utf-8", "replace"))
            h.update(b"\x00")
        return h.hexdigest()[:12]

    def __repr__(self) -> str:
        return (f"Corpus({self.name!r}: train {len(self.train)} chunks / {self.train_chars:,} chars, "
                f"valid {len(self.valid)} chunks / {self.valid_chars:,} chars)")


def _module_docstring(name: str) -> str:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    origin = getattr(spec, "origin", None) if spec else None
    if not origin or not origin.endswith(".py"):
        return ""
    try:
        with open(origin, encoding="utf-8") as f:
            return ast.get_docstring(ast.parse(f.read())) or ""
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""


def stdlib_documents(include_docstrings: bool = True) -> list[str]:
    return list(_stdlib_documents(include_docstrings))


@functools.lru_cache(maxsize=2)
def _stdlib_documents(include_docstrings: bool) -> tuple:
    """The documents of the offline corpus, in a fixed order.

    The ``pydoc_data.topics`` pages sorted by topic name, then (optionally) the module
    docstrings of :data:`DOCSTRING_MODULES` that are longer than 400 characters.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as error:  # some minimal Python builds drop it
        raise RuntimeError("This Python has no pydoc_data (the documentation topics). Install a "
                           "full Python build, or use load_corpus('tinystories') online.") from error
    docs = [topics[key].strip() for key in sorted(topics)]
    if include_docstrings:
        for name in DOCSTRING_MODULES:
            text = _module_docstring(name).strip()
            if len(text) > 400:
                docs.append(text)
    return tuple(d for d in docs if d)


def _chunks(documents: list[str], chunk_chars: int) -> list[str]:
    """Cut documents into chunks of about ``chunk_chars`` at paragraph boundaries."""
    chunks = []
    for doc in documents:
        current = ""
        for para in doc.split("\n\n"):
            if current and len(current) + len(para) + 2 > chunk_chars:
                chunks.append(current)
                current = ""
            current = f"{current}\n\n{para}" if current else para
        if current:
            chunks.append(current)
    return chunks


def split_chunks(chunks: list[str], valid_every: int = 10) -> tuple[list[str], list[str]]:
    """Every ``valid_every``-th chunk (the 5th, 15th, ...) to validation, the rest to training."""
    if valid_every < 2:
        raise ValueError(f"valid_every must be at least 2, got {valid_every}.")
    offset = valid_every // 2
    train = [c for i, c in enumerate(chunks) if i % valid_every != offset]
    valid = [c for i, c in enumerate(chunks) if i % valid_every == offset]
    return train, valid


def load_corpus(name: str = "stdlib", max_chars: int | None = None, chunk_chars: int = 2000,
                valid_every: int = 10, include_docstrings: bool = True,
                max_stories: int = 20000) -> Corpus:
    """A :class:`Corpus` with a deterministic train/validation split.

    ``name="stdlib"`` (offline, default): Python's own documentation, see the module
    docstring. ``name="tinystories"``: the first ``max_stories`` stories of TinyStories'
    training split (train) and 10% as many of its validation split, through ``datasets``;
    needs the network (or the ``datasets`` cache). ``max_chars`` keeps only about that many
    characters (before the split), for quick runs.
    """
    if name == "stdlib":
        chunks = list(dict.fromkeys(_chunks(stdlib_documents(include_docstrings), chunk_chars)))
        if max_chars is not None:
            kept, total = [], 0
            for c in chunks:
                if total >= max_chars:
                    break
                kept.append(c)
                total += len(c)
            chunks = kept
        train, valid = split_chunks(chunks, valid_every)
        return Corpus("stdlib-docs", train, valid)
    if name == "tinystories":
        return _tinystories(max_stories, max_chars)
    raise ValueError(f"Unknown corpus {name!r}: use 'stdlib' (offline) or 'tinystories' (online).")


def _tinystories(max_stories: int, max_chars: int | None) -> Corpus:
    if not is_online():
        raise OfflineError("TinyStories comes from the Hugging Face Hub and this machine is offline "
                           "(or HF_HUB_OFFLINE is set). Use load_corpus('stdlib'), which needs no network.")
    from datasets import load_dataset
    n_valid = max(1, max_stories // 10)
    train = load_dataset("roneneldan/TinyStories", split=f"train[:{max_stories}]")["text"]
    valid = load_dataset("roneneldan/TinyStories", split=f"validation[:{n_valid}]")["text"]
    if max_chars is not None:
        def cut(texts, limit):
            out, total = [], 0
            for t in texts:
                if total >= limit:
                    break
                out.append(t)
                total += len(t)
            return out
        train, valid = cut(train, max_chars), cut(valid, max(1, max_chars // 10))
    return Corpus("tinystories", [t.strip() for t in train if t.strip()],
                  [t.strip() for t in valid if t.strip()])


def pack_blocks(texts: list[str], tokenizer, block_size: int, max_blocks: int | None = None,
                tensor: bool = False):
    """Token blocks of exactly ``block_size`` tokens as a ``datasets.Dataset`` (torch format).

    Each text is tokenized, followed by the tokenizer's end-of-text token, the whole stream
    is concatenated and cut into consecutive blocks; the last, incomplete block is dropped.
    The dataset has one column, ``input_ids``; for a causal LM the labels are the same ids
    (the model shifts them by one position itself). ``tensor=True`` returns the blocks as one
    LongTensor ``(n_blocks, block_size)`` instead (lesson 13: no ``datasets`` needed).
    """
    import torch
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2, got {block_size}.")
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        if eos is not None:
            stream.append(eos)
    n_blocks = len(stream) // block_size
    if max_blocks is not None:
        n_blocks = min(n_blocks, max_blocks)
    if n_blocks == 0:
        raise ValueError(f"The texts give only {len(stream)} tokens: not even one block of {block_size}.")
    blocks = torch.tensor(stream[: n_blocks * block_size], dtype=torch.long).view(n_blocks, block_size)
    if tensor:
        return blocks
    from datasets import Dataset
    dataset = Dataset.from_dict({"input_ids": blocks.tolist()})
    dataset.set_format("torch", columns=["input_ids"])
    return dataset

"""Teachers: trained by the course once and cached (:func:`course_utils.io.cached`), or from the Hub.

Part I (lessons 01-04) distils from :func:`mnist1d_teacher`, a 1D CNN trained on MNIST-1D.
Part II (lessons 05-08) distils from language models:

``load_teacher(name)`` returns ``(model, tokenizer)``, a transformers causal LM and its
tokenizer:

* ``"course-gpt2"`` (default) or ``"course-llama"``: a small GPT-2- or Llama-style model
  built from a config sized by the profile (``size("lm_teacher")``), trained on the offline
  corpus with the course's BPE tokenizer the first time (with a progress bar), then cached
  on disk with ``save_pretrained`` -- written in a temporary folder and renamed into place,
  so an interrupted run never leaves a half-written teacher -- and loaded by every later
  call and notebook with ``from_pretrained``. The cache key covers the config, the training
  settings and the exact corpus, so changing any of them trains a new teacher.
* any other name, e.g. ``"HuggingFaceTB/SmolLM2-135M"`` or a local folder: passed to
  ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` -- the same
  loading code. A Hub name needs the network (or the Hugging Face cache); offline you get a
  clear message.

``make_student(tokenizer, ...)`` builds a smaller model of the same family with the
teacher's vocabulary, so their next-token distributions can be compared token by token.
``model.course_info`` holds where a course teacher came from, its training curve and speed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from .config import is_online, seed_everything, size
from .data import Split, load_mnist1d
from .io import cache_entry, cached, config_hash
from .models import ConvTeacher
from .text import OfflineError, load_corpus, pack_blocks
from .tokenizer import load_tokenizer
from .train import evaluate, fit

COURSE_TEACHERS = {"course-gpt2": "gpt2", "course-llama": "llama"}
MARKER = "course_teacher.json"  # written last: a folder without it is incomplete


def build_config(arch: str, vocab_size: int, n_layer: int, n_embd: int, n_head: int,
                 block_size: int, dropout: float = 0.0, tokenizer=None):
    """A transformers config for a GPT-2- or Llama-style causal LM of the given size."""
    eos = tokenizer.eos_token_id if tokenizer is not None else None
    if n_embd % n_head:
        raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}.")
    if arch == "gpt2":
        from transformers import GPT2Config
        return GPT2Config(vocab_size=vocab_size, n_positions=block_size, n_embd=n_embd,
                          n_layer=n_layer, n_head=n_head, resid_pdrop=dropout, embd_pdrop=dropout,
                          attn_pdrop=dropout, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    if arch == "llama":
        from transformers import LlamaConfig
        return LlamaConfig(vocab_size=vocab_size, hidden_size=n_embd, intermediate_size=(8 * n_embd) // 3,
                           num_hidden_layers=n_layer, num_attention_heads=n_head,
                           num_key_value_heads=n_head, max_position_embeddings=block_size,
                           attention_dropout=dropout, tie_word_embeddings=True,
                           bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    raise ValueError(f"arch must be 'gpt2' or 'llama', got {arch!r}.")


def make_student(tokenizer_or_teacher, arch: str | None = None, n_layer: int = 2, n_embd: int = 64,
                 n_head: int = 2, block_size: int | None = None, dropout: float = 0.0, seed: int = 0):
    """A freshly initialised causal LM that shares the tokenizer's vocabulary.

    Pass the teacher's tokenizer, or the teacher model itself (then its architecture and
    vocabulary size are reused). The student's vocabulary size is ``len(tokenizer)``, so its
    logits line up with the teacher's token by token.
    """
    from transformers import AutoModelForCausalLM, PreTrainedModel
    if isinstance(tokenizer_or_teacher, PreTrainedModel):
        tcfg = tokenizer_or_teacher.config
        vocab = tcfg.vocab_size
        arch = arch or ("llama" if tcfg.model_type == "llama" else "gpt2")
        block_size = block_size or getattr(tcfg, "n_positions", None) or tcfg.max_position_embeddings
        eos = tcfg.eos_token_id if isinstance(tcfg.eos_token_id, int) else None
        tok = SimpleNamespace(eos_token_id=eos)
    else:
        tok = tokenizer_or_teacher
        vocab = len(tok)
        arch = arch or "gpt2"
        block_size = block_size or 256
    config = build_config(arch, vocab, n_layer, n_embd, n_head, block_size, dropout, tok)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def lm_data(tokenizer=None, profile: str | None = None, **overrides) -> SimpleNamespace:
    """The corpus, tokenizer and packed train/valid blocks of the profile's teacher.

    Returns a namespace with ``corpus``, ``tokenizer``, ``train`` and ``valid`` (datasets
    of ``block_size`` token blocks) and ``block_size``. Pass a Hub teacher's ``tokenizer`` to
    tokenize the same text with it.
    """
    cfg = {**vars(size("lm_teacher", profile)), **overrides}
    corpus = load_corpus("stdlib", max_chars=cfg["corpus_chars"])
    tokenizer = tokenizer or load_tokenizer(corpus, cfg["vocab_size"])
    block = cfg["block_size"]
    valid = pack_blocks(corpus.valid, tokenizer, block)
    if cfg.get("valid_blocks") is not None and cfg["valid_blocks"] < len(valid):
        valid = valid.select(range(cfg["valid_blocks"]))
    return SimpleNamespace(corpus=corpus, tokenizer=tokenizer, block_size=block,
                           train=pack_blocks(corpus.train, tokenizer, block), valid=valid)


def _cache_config(name: str, cfg: dict, corpus) -> dict:
    """Everything a course LM teacher depends on: its cache key is a hash of this.

    ``valid_blocks`` (how much of the validation split is evaluated) leaves the key alone."""
    cfg = {k: v for k, v in cfg.items() if k != "valid_blocks"}
    return {"name": name, "cfg": cfg, "corpus": corpus.fingerprint(), "v": 1}


def _train_course_teacher(model, data, cfg, seed, progress):
    from .lm import train_lm
    return train_lm(model, data.train, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                    valid=data.valid, eval_every=max(1, cfg["steps"] // 10), eval_blocks=cfg.get("eval_blocks", 64),
                    seed=seed, desc="training the teacher", progress=progress)


def _load_saved(path: Path):
    """A saved teacher folder: ``(model, tokenizer, marker)``; the marker is written last."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    marker = json.loads((path / MARKER).read_text())
    model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model, tokenizer, marker


def _save(built, tmp) -> None:
    model, tokenizer, marker = built
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (Path(tmp) / MARKER).write_text(json.dumps(marker, indent=1))


def load_teacher(name: str = "course-gpt2", retrain: bool = False, progress: bool = True,
                 seed: int = 0, profile: str | None = None, **overrides):
    """A teacher causal LM and its tokenizer: ``model, tokenizer = load_teacher()``.

    Taught in lesson 05. ``name``: ``"course-gpt2"`` / ``"course-llama"`` (trained by the
    course on first use, then loaded from the cache), or a Hub model name / local folder.
    ``overrides`` change the profile's sizes of a course teacher (e.g. ``steps=200``);
    ``retrain=True`` ignores the cache. The model comes back in eval mode on the CPU;
    ``model.course_info`` says where it came from (``from_cache``, ``path``, ``seconds``,
    ``tokens_per_second``, ``history``).
    """
    if name not in COURSE_TEACHERS:
        return _load_hub_teacher(name)
    cfg = {**vars(size("lm_teacher", profile)), **overrides}
    data = lm_data(profile=profile, **overrides)
    key_config = _cache_config(name, cfg, data.corpus)
    path = cache_entry("teachers", name, key_config)
    info = {"name": name, "path": str(path), "from_cache": False, "seconds": 0.0,
            "key": config_hash(key_config)}

    def build():
        tokenizer = data.tokenizer
        seed_everything(seed)
        config = build_config(COURSE_TEACHERS[name], len(tokenizer), cfg["n_layer"], cfg["n_embd"],
                              cfg["n_head"], cfg["block_size"], cfg.get("dropout", 0.0), tokenizer)
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_config(config)
        start = time.perf_counter()
        history = _train_course_teacher(model, data, cfg, seed, progress)
        info.update(seconds=time.perf_counter() - start, tokens_per_second=history.tokens_per_second,
                    history=history.to_dict(), train_tokens=history.tokens,
                    valid_ppl=history.final_ppl, cfg=cfg, corpus=repr(data.corpus))
        model.cpu().eval()
        marker = {k: v for k, v in info.items() if k not in ("from_cache", "path")}
        return model, tokenizer, marker

    (model, tokenizer, marker), from_cache = cached(path, build, _save, _load_saved,
                                                    retrain=retrain, what=f"teacher {name!r}")
    if from_cache:
        info.update(marker, from_cache=True, path=str(path))
    model.cpu().eval()
    info["params"] = sum(p.numel() for p in model.parameters())
    model.course_info = info
    return model, tokenizer


def _load_hub_teacher(name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    local = Path(name).expanduser()
    if local.is_dir():
        model = AutoModelForCausalLM.from_pretrained(str(local))
        tokenizer = AutoTokenizer.from_pretrained(str(local))
    else:
        try:  # already in the Hugging Face cache: works offline too
            model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        except Exception:
            if not is_online():
                raise OfflineError(
                    f"{name!r} is not a course teacher ({', '.join(COURSE_TEACHERS)}) and this machine "
                    "is offline, so it cannot be downloaded from the Hugging Face Hub. Use "
                    "load_teacher('course-gpt2') offline, or run this on Colab / online.") from None
            model = AutoModelForCausalLM.from_pretrained(name)
            tokenizer = AutoTokenizer.from_pretrained(name)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    model.course_info = {"name": name, "from_cache": True, "path": name, "seconds": 0.0,
                         "params": sum(p.numel() for p in model.parameters())}
    return model, tokenizer


# ---------------------------------------------------------------------------------------
# Part I: the MNIST-1D teacher
# ---------------------------------------------------------------------------------------
def mnist1d_teacher(data: Split | None = None, seed: int = 0, retrain: bool = False,
                    progress: bool = True, **overrides):
    """The 1D-CNN teacher trained on MNIST-1D with the profile's sizes, cached on disk.

    Lessons 01-04 all distil from it (taught in lesson 01). It is trained once per profile
    (a few seconds in ``ci``, under a minute in ``cpu``) and loaded back by every later
    notebook. Returns ``(teacher, info)`` where ``info`` has the test accuracy, parameter
    count, whether it came from the cache and how long training took. ``overrides`` change
    the profile's sizes (e.g. ``channels=16`` for a smaller teacher, ``label_smoothing=0.1``).
    """
    data = data or load_mnist1d()
    cfg = {**vars(size("teacher_cnn")), **overrides}
    label_smoothing = cfg.pop("label_smoothing", 0.0)
    path = cache_entry("teachers", "mnist1d-cnn", {
        "cfg": cfg, "ls": label_smoothing, "seed": seed, "n": len(data.x_train),
        "x0": float(data.x_train[:50].sum())}, suffix=".pt")
    info = {"path": str(path), "from_cache": False, "seconds": 0.0}

    def new_teacher():
        return ConvTeacher(length=data.x_train.shape[1], num_classes=data.num_classes,
                           channels=cfg["channels"])

    def build():
        teacher = new_teacher()
        seed_everything(seed)
        start = time.perf_counter()
        fit(teacher, (data.x_train, data.y_train), epochs=cfg["epochs"], lr=cfg["lr"],
            batch_size=cfg["batch_size"], seed=seed, label_smoothing=label_smoothing,
            desc="teacher", progress=progress)
        info["seconds"] = time.perf_counter() - start
        return teacher

    def load(file):
        teacher = new_teacher()
        teacher.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        return teacher

    teacher, info["from_cache"] = cached(
        path, build, lambda t, tmp: torch.save(t.state_dict(), tmp), load,
        retrain=retrain, what="MNIST-1D teacher")
    teacher.cpu().eval()
    info["accuracy"] = evaluate(teacher, (data.x_test, data.y_test))["accuracy"]
    info["params"] = sum(p.numel() for p in teacher.parameters())
    return teacher, info


# ---------------------------------------------------------------------------------------
# Part IV: the capstone's code teacher
# ---------------------------------------------------------------------------------------
def load_code_teacher(name: str = "course-gpt2", profile: str | None = None, retrain: bool = False,
                      progress: bool = True, seed: int = 0, device=None, **overrides):
    """The capstone's teacher and data: ``model, data = load_code_teacher()``.

    Taught in lesson 13. ``"course-gpt2"``: a GPT-2-style model sized by ``size("code_lm")``
    (tens of millions of parameters in ``gpu``), trained on the standard library's source
    (:func:`course_utils.code_corpus.code_data`) with the course's fast loop
    (:func:`course_utils.fast_train.train_student`, the precision the hardware supports) the
    first time, then cached like lesson 05's teacher. Any other name is a Hub model (e.g. a
    small code model) loaded with ``from_pretrained``; the data is then cut with its tokenizer.
    Offline, a Hub name raises :class:`course_utils.config.OfflineError` with a clear message.
    ``model.course_info`` holds the training log (``log``), the cache key and the parameters.
    """
    from .code_corpus import code_data
    if name not in COURSE_TEACHERS:
        model, tokenizer = _load_hub_teacher(name)
        data = code_data(profile, tokenizer=tokenizer, **overrides)
        return model, data
    from .fast_train import RunLog, choose_recipe, train_student
    data = code_data(profile, **overrides)
    cfg = data.cfg
    key_config = {"name": name, "cfg": {k: v for k, v in cfg.items() if k != "valid_blocks"},
                  "corpus": data.corpus.fingerprint(), "seed": seed, "v": 1}
    path = cache_entry("teachers", f"code-{name}", key_config)
    info = {"name": name, "path": str(path), "from_cache": False, "key": config_hash(key_config)}

    def build():
        seed_everything(seed)
        config = build_config(COURSE_TEACHERS[name], len(data.tokenizer), cfg["n_layer"], cfg["n_embd"],
                              cfg["n_head"], cfg["block_size"], cfg.get("dropout", 0.0), data.tokenizer)
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_config(config)
        log = train_student(model, data.train, cfg["steps"], cfg["batch_size"], cfg["lr"],
                            recipe=choose_recipe(device), valid=data.valid, seed=seed, device=device,
                            label="training the teacher", progress=progress)
        info.update(log=log.to_dict())
        model.cpu().eval()
        return model, data.tokenizer, {k: v for k, v in info.items() if k not in ("from_cache", "path")}

    (model, _, marker), from_cache = cached(path, build, _save, _load_saved, retrain=retrain,
                                            what=f"code teacher {name!r}")
    if from_cache:
        info.update(marker, from_cache=True, path=str(path))
    model.cpu().eval()
    info["params"] = sum(p.numel() for p in model.parameters())
    info["log"] = RunLog.from_dict(info["log"])
    model.course_info = info
    return model, data


def gpt2_params(vocab_size: int, n_layer: int, n_embd: int, block_size: int) -> int:
    """Parameters of a ``GPT2LMHeadModel`` of this shape (output layer tied to the embedding):
    ``V d + B d + L (12 d^2 + 13 d) + 2 d``. Taught in lesson 13 (the exercise derives it)."""
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * (12 * d * d + 13 * d) + 2 * d


def student_shapes(budget: int, vocab_size: int, block_size: int, depths=(1, 2, 3, 4, 6),
                   widths=(16, 24, 32, 48, 64, 96, 128, 192, 256), head_dim: int = 16):
    """Every GPT-2 shape with at most ``budget`` parameters, largest first: a list of dicts
    ``{"n_layer", "n_embd", "n_head", "params"}`` (``n_head = n_embd // head_dim``).

    Taught in lesson 13: at small sizes the embeddings dominate, so a budget buys depth only
    once the width is paid for."""
    shapes = [{"n_layer": L, "n_embd": d, "n_head": max(1, d // head_dim),
               "params": gpt2_params(vocab_size, L, d, block_size)}
              for L in depths for d in widths if d % max(1, d // head_dim) == 0]
    return sorted((s for s in shapes if s["params"] <= budget), key=lambda s: -s["params"])

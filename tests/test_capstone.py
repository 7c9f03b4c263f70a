"""Lesson 13's engine: the code corpus, the fast loop's measures, and the accelerate script.

The DDP test runs the script as two CPU processes (gloo backend, launched with torchrun, the
launcher `accelerate launch` uses for several processes) and checks that its loss curve is the
single-process curve with the same global batch; the resume test stops a run at a checkpoint
and continues it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import capstone_run
from course_utils.code_corpus import code_chunks, held_out, load_code_corpus
from course_utils.fast_train import (RunLog, TopK, choose_recipe, topk_kd_loss, mixed_precision_step,
                                     naive_recipe, run_cost, time_to_loss, tokens_per_second,
                                     train_student)

ROOT = Path(__file__).resolve().parent.parent


# --- the corpus ----------------------------------------------------------------------------
def test_code_corpus_is_split_by_module_and_deterministic():
    a, b = load_code_corpus(40_000), load_code_corpus(40_000)
    assert a.train and a.valid and a.fingerprint() == b.fingerprint()
    assert a.train_chars >= 40_000 and not set(a.train) & set(a.valid)
    assert held_out("json/__init__.py") == held_out("json/__init__.py")
    share = sum(held_out(f"m{i}.py") for i in range(2000)) / 2000
    assert 0.07 < share < 0.13          # one module in ten
    with pytest.raises(ValueError, match="max_chars"):
        load_code_corpus(0)


def test_code_chunks_cut_at_top_level_statements():
    source = "import os\n\n\ndef f():\n    return 1\n\n\nclass A:\n    x = 1\n" * 20
    chunks = code_chunks(source, 60)
    assert "".join(chunks) == source
    assert all(c.startswith(("import", "def", "class")) for c in chunks)


# --- the loop and its measures ---------------------------------------------------------------
def _tiny(vocab=32, block=8, seed=0):
    from course_utils.teachers import build_config
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(build_config("gpt2", vocab, 1, 16, 2, block))


def test_recipes_follow_the_hardware(monkeypatch):
    assert naive_recipe().dtype is None and naive_recipe().teacher == "live"
    cpu = choose_recipe("cpu")
    assert not cpu.compile and not cpu.fused and not cpu.scaler
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))
    t4 = choose_recipe("cuda")
    assert t4.dtype == torch.float16 and t4.scaler and t4.fused and t4.compile
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    h100 = choose_recipe("cuda")
    assert h100.dtype == torch.bfloat16 and not h100.scaler


def test_log_measures():
    log = [{"step": 1, "tokens": 100, "seconds": 5.0}, {"step": 2, "tokens": 100, "seconds": 1.0},
           {"step": 3, "tokens": 100, "seconds": 1.0}]
    assert tokens_per_second(log) == pytest.approx(100.0)
    assert tokens_per_second(log, skip=0) == pytest.approx(300 / 7)
    assert run_cost(log, 0.36) == pytest.approx(7 / 3600 * 0.36)
    assert run_cost(log, 0.36, gpus=4) == pytest.approx(4 * 7 / 3600 * 0.36)
    run = RunLog(steps=log, evals=[{"step": 2, "seconds": 6.0, "loss": 3.0},
                                   {"step": 3, "seconds": 7.0, "loss": 2.0}])
    assert time_to_loss(run, 2.5) == 7.0 and time_to_loss(run, 1.0) == float("inf")


def test_cached_topk_and_live_teacher_train_the_same_student():
    teacher, blocks = _tiny(seed=1).eval(), torch.randint(0, 32, (24, 8))
    from course_utils.fast_train import compute_topk
    topk = compute_topk(teacher, blocks, k=32, device="cpu", progress=False)
    assert topk.indices.dtype == torch.int16 and topk.values.dtype == torch.float16
    live, cached = naive_recipe(), naive_recipe()
    cached.teacher = "cached"
    a = train_student(_tiny(), blocks, 4, 4, recipe=live, teacher=teacher, device="cpu", progress=False)
    b = train_student(_tiny(), blocks, 4, 4, recipe=cached, topk=topk, device="cpu", progress=False)
    assert [r["loss"] for r in a.steps] == pytest.approx([r["loss"] for r in b.steps], abs=2e-3)
    assert len(a.steps) == 4 and a.meta["tokens_per_second"] > 0
    with pytest.raises(ValueError, match="topk"):
        train_student(_tiny(), blocks, 1, 4, recipe=cached, teacher=teacher, device="cpu", progress=False)


def test_kd_loss_with_full_logits_equals_topk_with_k_vocab():
    s, t = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    full = topk_kd_loss(s, ids, t, alpha=1.0)
    v, i = t.topk(7, -1)
    assert torch.allclose(full, topk_kd_loss(s, ids, (i, v), alpha=1.0), atol=1e-5)


def test_mixed_precision_step_with_a_scaler_skips_an_overflowing_step():
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=3e38)   # the scaled loss overflows fp32
    before = [p.detach().clone() for p in model.parameters()]
    mixed_precision_step(model, torch.randint(0, 32, (2, 8)), opt, scaler=scaler)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert scaler.get_scale() < 3e38


# --- the script: config, DDP = one process, resume ---------------------------------------------
def _write_run(tmp_path, **run):
    g = torch.Generator().manual_seed(0)
    torch.save({"train": torch.randint(0, 64, (64, 16), generator=g),
                "valid": torch.randint(0, 64, (8, 16), generator=g), "vocab_size": 64,
                "topk_indices": torch.randint(0, 64, (64, 16, 4), generator=g).short(),
                "topk_values": torch.randn(64, 16, 4, generator=g).half()}, tmp_path / "data.pt")
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in run.items())
    (tmp_path / "run.toml").write_text(
        "[model]\nn_layer = 1\nn_embd = 16\nn_head = 2\n[train]\nsteps = 6\nglobal_batch = 8\n"
        'precision = "fp32"\n[kd]\nalpha = 0.5\ntop_k = 4\n[run]\n' + extra)
    return tmp_path / "run.toml"


@pytest.fixture
def fresh_accelerate_state():
    yield
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(reset_partial_state=True)


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(capstone_run.ConfigError, match="No config file"):
        capstone_run.load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[train]\nprecision = 'fp8'\n")
    with pytest.raises(capstone_run.ConfigError, match="precision"):
        capstone_run.load_config(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text("[train]\nstep = 3\n")
    with pytest.raises(capstone_run.ConfigError, match="Unknown key"):
        capstone_run.load_config(tmp_path / "typo.toml")
    assert capstone_run.main(["train", "--config", str(tmp_path / "missing.toml")]) == 2


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_on_two_cpu_processes_gives_the_single_process_curve(tmp_path, fresh_accelerate_state):
    one = tmp_path / "one"
    one.mkdir()
    single = capstone_run.train(capstone_run.load_config(_write_run(one, out="run")), progress=False)
    two = tmp_path / "two"
    two.mkdir()
    config = _write_run(two, out="run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "MASTER_", "RANK",
                                                                     "WORLD_SIZE", "LOCAL_RANK"))}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                           "--master_port", str(_free_port()), "-m", "course_utils.capstone_run", "train",
                           "--config", str(config)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((two / "run" / "log.json").read_text())
    assert ddp["meta"]["world"] == 2 and single["meta"]["world"] == 1
    assert [r["loss"] for r in ddp["steps"]] == pytest.approx([r["loss"] for r in single["steps"]], abs=1e-5)
    assert ddp["steps"][-1]["loss"] != ddp["steps"][0]["loss"]       # it did train


def test_resuming_from_a_checkpoint_continues_the_same_curve(tmp_path, fresh_accelerate_state):
    full = capstone_run.train(capstone_run.load_config(_write_run(tmp_path, out="full")), progress=False)
    config = _write_run(tmp_path, out="parts", checkpoint_every=3, stop_after=3)
    first = capstone_run.train(capstone_run.load_config(config), progress=False)
    assert len(first["steps"]) == 3 and (tmp_path / "parts" / "checkpoint" / "state.pt").is_file()
    config = _write_run(tmp_path, out="parts", checkpoint_every=3)
    resumed = capstone_run.train(capstone_run.load_config(config), progress=False)
    assert [r["step"] for r in resumed["steps"]] == list(range(1, 7))
    assert [r["loss"] for r in resumed["steps"]] == pytest.approx([r["loss"] for r in full["steps"]], abs=1e-6)


def test_the_benchmark_script_runs_at_ci_size():
    import importlib.util
    spec = importlib.util.spec_from_file_location("benchmark_throughput", ROOT / "tools" / "benchmark_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.measure("ci", 1, torch.device("cpu"))
    assert [(r["run"], r["loop"]) for r in rows][:2] == [("distil the student", "naive"),
                                                        ("distil the student", "course")]
    assert all(r["tokens/s"] > 0 for r in rows) and rows[0]["x naive"] == 1.0

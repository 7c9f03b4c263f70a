"""The language-model helpers: corpus, tokenizer, cached teachers, students, training, sampling."""
import json
import math
import shutil

import pytest
import torch

from course_utils import lm as lm_mod
from course_utils import teachers
from course_utils.text import OfflineError, load_corpus, pack_blocks, split_chunks, stdlib_documents
from course_utils.tokenizer import load_tokenizer, show_tokens, train_tokenizer


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache folder for this module's teachers and tokenizers."""
    import os
    path = tmp_path_factory.mktemp("course_cache")
    old = os.environ.get("COURSE_CACHE")
    os.environ["COURSE_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("COURSE_CACHE", None)
    else:
        os.environ["COURSE_CACHE"] = old


# A very small teacher so that training it in the tests takes a second or two.
TINY = dict(corpus_chars=30_000, vocab_size=300, block_size=32, n_layer=1, n_embd=32, n_head=2,
            steps=8, batch_size=8, lr=3e-3, eval_blocks=4)


def test_offline_corpus_is_real_deterministic_and_split():
    docs = stdlib_documents()
    assert sum(map(len, docs)) > 300_000          # pydoc topics alone are ~465k characters
    a, b = load_corpus(), load_corpus()
    assert a.train == b.train and a.valid == b.valid and a.fingerprint() == b.fingerprint()
    assert 0.05 < a.valid_chars / (a.train_chars + a.valid_chars) < 0.2
    assert not set(a.train) & set(a.valid)
    small = load_corpus(max_chars=20_000)
    assert small.train_chars + small.valid_chars < 30_000 and small.fingerprint() != a.fingerprint()
    assert "assert" in " ".join(a.train + a.valid)
    tr, va = split_chunks(list("abcdefghijklmnopqrst"), 10)
    assert va == ["f", "p"] and len(tr) == 18
    with pytest.raises(ValueError, match="Unknown corpus"):
        load_corpus("shakespeare")


def test_tinystories_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        load_corpus("tinystories")


def test_tokenizer_round_trips_and_saves(tmp_path):
    corpus = load_corpus(max_chars=30_000)
    tok = train_tokenizer(corpus.train, vocab_size=300)
    assert len(tok) == 300
    text = "The assert statement is a convenient way to insert debugging assertions — ünïcode too."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text                 # byte-level: nothing is lost
    assert len(ids) < len(text.encode())           # merges compress
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text, add_special_tokens=False)["input_ids"] == ids
    assert again.eos_token == "<|endoftext|>" and again.pad_token_id == again.eos_token_id
    assert "".join(show_tokens(tok, "if x:")).replace("·", " ") == "if x:"
    with pytest.raises(ValueError, match="at least 258"):
        train_tokenizer(corpus.train, vocab_size=100)


def test_pack_blocks():
    corpus = load_corpus(max_chars=30_000)
    tok = train_tokenizer(corpus.train, vocab_size=300)
    ds = pack_blocks(corpus.train, tok, 16)
    assert ds[0]["input_ids"].shape == (16,) and ds[0]["input_ids"].dtype == torch.long
    n_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in corpus.train)
    assert len(ds) == n_tokens // 16
    assert (ds[:]["input_ids"] == tok.eos_token_id).sum() >= len(corpus.train) - 2
    with pytest.raises(ValueError, match="not even one block"):
        pack_blocks(["hi"], tok, 64)


def test_teacher_trains_once_then_loads_from_cache(cache, monkeypatch):
    model, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    info = model.course_info
    assert not info["from_cache"] and info["tokens_per_second"] > 0
    assert (cache / "teachers").is_dir() and len(info["history"]["train_loss"]) == TINY["steps"]
    # the second load must train nothing
    monkeypatch.setattr(teachers, "_train_course_teacher",
                        lambda *a, **k: pytest.fail("the cached teacher was trained again"))
    again, tok2 = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    assert again.course_info["from_cache"] and again.course_info["history"] == info["history"]
    assert tok2.get_vocab() == tok.get_vocab()
    ids = torch.randint(0, len(tok), (2, 10))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, again(input_ids=ids).logits, atol=1e-5)
    # a change of config is a different teacher
    monkeypatch.undo()
    other, _ = teachers.load_teacher("course-gpt2", progress=False, **{**TINY, "steps": 4})
    assert not other.course_info["from_cache"] and other.course_info["path"] != info["path"]


def test_teacher_survives_an_interrupted_write(cache):
    model, _ = teachers.load_teacher("course-llama", progress=False, **TINY)
    path = teachers.Path(model.course_info["path"])
    # 1) a crash after the save began but before the rename leaves a temporary folder
    leftover = path.parent / f".{path.name}.abc123.tmp"
    leftover.mkdir()
    (leftover / "config.json").write_text("{}")
    # 2) a half-written final folder (no weights, no completion marker)
    shutil.rmtree(path)
    path.mkdir()
    (path / "config.json").write_text("{broken")
    again, tok = teachers.load_teacher("course-llama", progress=False, **TINY)
    assert not again.course_info["from_cache"]           # retrained, no crash
    assert not leftover.exists()
    assert (path / teachers.MARKER).exists()
    third, _ = teachers.load_teacher("course-llama", progress=False, **TINY)
    assert third.course_info["from_cache"] and third.config.model_type == "llama"
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))


def test_hub_name_offline_gives_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        teachers.load_teacher("someone/some-model-that-is-not-cached")


def test_students_share_the_teachers_vocabulary(cache):
    model, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    student = teachers.make_student(tok, n_layer=1, n_embd=16, n_head=2, block_size=32)
    assert student.config.vocab_size == model.config.vocab_size == len(tok)
    assert student.get_input_embeddings().num_embeddings == model.get_input_embeddings().num_embeddings
    from_model = teachers.make_student(model, n_layer=1, n_embd=16, n_head=2)
    assert from_model.config.vocab_size == len(tok) and from_model.config.model_type == "gpt2"
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, len(tok), (1, 8))
    assert student(input_ids=ids).logits.shape == model(input_ids=ids).logits.shape
    with pytest.raises(ValueError, match="divisible"):
        teachers.make_student(tok, n_embd=10, n_head=3)


def test_train_lm_lowers_the_loss_and_kd_runs(cache):
    teacher, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    data = teachers.lm_data(**TINY)
    student = teachers.make_student(tok, n_layer=1, n_embd=16, n_head=2, block_size=32)
    before = lm_mod.perplexity(student, data.valid)
    assert before == pytest.approx(len(tok), rel=0.5)        # an untrained model is near uniform
    hist = lm_mod.train_lm(student, data.train, steps=15, batch_size=8, lr=1e-2, valid=data.valid,
                           eval_every=5, progress=False)
    assert hist.final_ppl < before and len(hist.valid_loss) == 3 and hist.tokens == 15 * 8 * 32
    s2 = teachers.make_student(tok, n_layer=1, n_embd=16, n_head=2, block_size=32)
    h2 = lm_mod.train_lm(s2, data.train, steps=5, batch_size=8, teacher=teacher, progress=False)
    assert all(math.isfinite(x) for x in h2.train_loss)
    result = lm_mod.evaluate_lm(s2, data.valid, teacher=teacher, max_blocks=4)
    assert 0.0 <= result["agreement"] <= 1.0
    # the teacher's answers computed once give the same agreement; blocks of another shape refused
    top1 = lm_mod.teacher_top1(teacher, data.valid, max_blocks=4)
    assert lm_mod.evaluate_lm(s2, data.valid, teacher_top1=top1, max_blocks=4) == result
    with pytest.raises(ValueError, match="teacher_top1 has shape"):
        lm_mod.evaluate_lm(s2, data.valid, teacher_top1=top1[:, 1:], max_blocks=4)
    # same seed, same batches
    assert all(torch.equal(a, b) for a, b in zip(lm_mod.batch_order(20, 5, 4, 0), lm_mod.batch_order(20, 5, 4, 0)))


def test_kd_trainer_runs_with_the_current_signature(cache, tmp_path):
    from transformers import TrainingArguments
    teacher, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    data = teachers.lm_data(**TINY)
    student = teachers.make_student(tok, n_layer=1, n_embd=16, n_head=2, block_size=32)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                             learning_rate=1e-3, logging_steps=1, report_to="none", save_strategy="no",
                             use_cpu=True, disable_tqdm=True)
    trainer = lm_mod.KDTrainer(model=student, teacher_model=teacher, kd_kind="jsd", args=args,
                               train_dataset=data.train, data_collator=lm_mod.lm_collator)
    trainer.train()
    assert len(trainer.history.train_loss) == 4
    assert all(math.isfinite(x) and x > 0 for x in trainer.history.train_loss)
    batch = lm_mod.lm_collator([data.train[i] for i in range(2)])
    loss = trainer.compute_loss(student, batch, num_items_in_batch=10)
    assert loss.dim() == 0
    with pytest.raises(ValueError, match="teacher_model"):
        lm_mod.KDTrainer(model=student, args=args)


def test_sampling_and_next_token_probs(cache):
    model, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    greedy = lm_mod.sample(model, tok, "The ", max_new_tokens=8, temperature=0)
    assert greedy == lm_mod.sample(model, tok, "The ", max_new_tokens=8, temperature=0, seed=5)
    a = lm_mod.sample(model, tok, "The ", max_new_tokens=8, temperature=1.0, seed=1)
    assert a == lm_mod.sample(model, tok, "The ", max_new_tokens=8, temperature=1.0, seed=1)
    assert isinstance(a, str)
    top = lm_mod.next_token_probs(model, tok, "The ", top=5)
    assert len(top) == 5 and all(p1 >= p2 for (_, p1), (_, p2) in zip(top, top[1:]))
    with pytest.raises(ValueError):
        lm_mod.sample(model, tok, "x", top_p=0)


def test_forward_cached_and_greedy_continue_match_a_full_forward_without_warnings(cache):
    import warnings
    model, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    ids = torch.randint(1, len(tok), (3, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no deprecated cache argument
        logits, kv = lm_mod.forward_cached(model, ids[:, :4])
        step, kv = lm_mod.forward_cached(model, ids[:, 4:], kv, torch.ones(3, 6, dtype=torch.long))
        new = lm_mod.greedy_continue(model, ids, 5)
    full = model(input_ids=ids).logits
    assert torch.allclose(step, full[:, 4:], atol=1e-4) and torch.allclose(logits, full[:, :4], atol=1e-4)
    # the same tokens as greedy decoding one sequence at a time, without a cache
    for row in range(3):
        seq = ids[row:row + 1]
        for _ in range(5):
            seq = torch.cat([seq, model(input_ids=seq).logits[:, -1].argmax(-1, keepdim=True)], 1)
        assert seq[0, 6:].tolist() == new[row].tolist()
    # a finished row keeps writing its end token
    eos = int(new[0, 0])
    after = lm_mod.greedy_continue(model, ids[:1], 5, eos_token_id=eos)
    assert after[0].tolist() == [eos] * 5


def test_training_and_evaluating_on_blocks_that_start_with_the_end_token_do_not_warn(cache, capfd):
    """Packed blocks begin or end with the end-of-text token, which is also the pad token:
    without an attention mask transformers takes it for padding and prints a warning in the
    learner's notebook (lesson 05 at the `cpu` size did)."""
    from transformers.utils import logging as hf_logging
    teacher, tok = teachers.load_teacher("course-gpt2", progress=False, **TINY)
    student = teachers.make_student(tok, n_layer=1, n_embd=16, n_head=2, block_size=32)
    blocks = torch.randint(1, len(tok), (4, 32))
    blocks[:, 0] = tok.eos_token_id
    assert tok.eos_token_id == teacher.config.pad_token_id   # the case that warns
    hf_logging.get_logger("transformers").warning_once.cache_clear()   # warned once per process
    lm_mod.train_lm(student, blocks, steps=2, batch_size=2, teacher=teacher, progress=False)
    lm_mod.train_lm(student, blocks, steps=2, batch_size=2, progress=False)
    lm_mod.evaluate_lm(student, blocks, teacher=teacher)
    err = capfd.readouterr().err
    assert "attention_mask" not in err, err

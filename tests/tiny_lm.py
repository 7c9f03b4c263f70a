"""A tiny random GPT-2 and a BPE tokenizer trained in-test: a stand-in teacher for API tests."""
from __future__ import annotations

import functools


def _text() -> str:
    import pydoc_data.topics as topics
    return "\n".join(list(topics.topics.values())[:40])


@functools.lru_cache(maxsize=None)
def tiny_tokenizer(vocab_size: int = 300):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([_text()[:20000]], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>", pad_token="<|endoftext|>")


def tiny_model(seed: int = 0, n_positions: int = 128, peaked: bool = True):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2,
                        n_head=2, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                        tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    if peaked:   # make the distribution peaked enough to be interesting
        with torch.no_grad():
            model.lm_head.weight.mul_(8)
    return model.eval(), tok


def one_thread():
    """A pytest fixture body: torch on one thread for tiny models (much faster on a busy
    machine, where two threads spin-wait for each other), restored afterwards."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)

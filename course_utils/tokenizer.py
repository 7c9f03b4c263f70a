"""A byte-level BPE tokenizer trained on the course corpus (GPT-2's scheme, Radford et al. 2019;
taught in lesson 05).

``train_tokenizer`` learns the merges with Hugging Face ``tokenizers`` and wraps the result as
a ``transformers.PreTrainedTokenizerFast``, so it is saved with ``save_pretrained`` and loaded
with ``AutoTokenizer.from_pretrained`` exactly like a tokenizer from the Hub. Byte level
means every string can be encoded (no unknown token): rare characters fall back to bytes.

``load_tokenizer`` trains it once per corpus and vocabulary size and caches it on disk.
"""
from __future__ import annotations

from pathlib import Path

from .io import cache_entry, cached

EOS = "<|endoftext|>"


def train_tokenizer(texts, vocab_size: int = 2048, min_frequency: int = 2):
    """Train byte-level BPE on ``texts`` and return a transformers fast tokenizer.

    The one special token is ``<|endoftext|>``: it ends each document, and serves as the
    beginning-of-text and padding token too (as in GPT-2).

    Taught in lesson 05.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    if vocab_size < 257 + 1:
        raise ValueError(f"A byte-level vocabulary needs at least 258 entries (256 bytes + "
                         f"<|endoftext|> + merges), got vocab_size={vocab_size}.")
    texts = list(texts)
    if not texts:
        raise ValueError("No texts to train the tokenizer on.")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS,
                                   pad_token=EOS, unk_token=None, model_max_length=1_000_000)


def tokenizer_dir(corpus, vocab_size: int) -> Path:
    """The cache folder of the tokenizer of ``corpus`` with ``vocab_size`` entries."""
    return cache_entry("tokenizers", f"bpe{vocab_size}",
                       {"corpus": corpus.fingerprint(), "vocab_size": vocab_size})


def load_tokenizer(corpus, vocab_size: int = 2048, retrain: bool = False):
    """The BPE tokenizer of ``corpus`` (trained on its training texts), cached on disk.

    Taught in lesson 05. Cached with :func:`course_utils.io.cached`: written whole in a
    temporary folder and renamed into place, so an interrupted run leaves nothing
    half-written behind.
    """
    from transformers import AutoTokenizer
    tokenizer, _ = cached(tokenizer_dir(corpus, vocab_size),
                          build=lambda: train_tokenizer(corpus.train, vocab_size),
                          save=lambda tok, tmp: tok.save_pretrained(tmp),
                          load=lambda path: AutoTokenizer.from_pretrained(str(path)),
                          retrain=retrain, what="tokenizer", reload=True)
    return tokenizer


# --------------------------------------------------------------------------------------
# Tokens as bytes: exact token identities for a client that shares the tokenizer
# --------------------------------------------------------------------------------------
def _byte_decoder() -> dict[str, int]:
    # GPT-2's reversible map from bytes to printable characters, used by byte-level BPE.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _byte_decoder()


def token_bytes(tokenizer, token_id: int) -> bytes:
    """The exact bytes a token stands for (byte-level BPE), else its decoded text in UTF-8.

    The API sends these as each token's ``bytes`` (lesson 07).
    """
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if isinstance(piece, str) and piece and all(ch in _BYTE_DECODER for ch in piece):
        return bytes(_BYTE_DECODER[ch] for ch in piece)
    return tokenizer.decode([int(token_id)]).encode("utf-8")


def bytes_to_id(tokenizer) -> dict[bytes, int]:
    """Map each token's bytes back to its id (the first id wins where two share bytes)."""
    table: dict[bytes, int] = {}
    for token_id in range(len(tokenizer)):
        table.setdefault(token_bytes(tokenizer, token_id), token_id)
    return table


def show_tokens(tokenizer, text: str) -> list[str]:
    """The pieces ``text`` is cut into, as readable strings (spaces shown as '·').

    Taught in lesson 05.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode([i]).replace(" ", "·").replace("\n", "\\n") for i in ids]

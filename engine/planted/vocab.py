"""The planted models' tokenizer: a word-level vocabulary built in code.

Why word level: a planted task is written in abstract words (``t17``,
``n3``, ``to``) that must each be exactly one token, with no merges, byte
fallback or leading-space variants to reason about. A ``tokenizers``
``WordLevel`` model over a fixed word list, split on whitespace and wrapped in
``PreTrainedTokenizerFast``, gives the engine what it expects of any
tokenizer: ``" t17"`` is one token, offsets map words to characters (task
roles), ``decode`` returns the word, and ``<bos>`` is the BOS token that the
engine prepends to every prompt (``TargetModel.prepend_bos``).
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

UNK = "<unk>"
BOS = "<bos>"
SPECIAL = (UNK, BOS)


def vocabulary(words: Sequence[str]) -> list[str]:
    """The full vocabulary, specials first: id 0 is ``<unk>``, id 1 is ``<bos>``."""
    if len(set(words)) != len(words) or any(w in SPECIAL or not w or w.split() != [w] for w in words):
        raise ValueError("planted words must be distinct, non-empty, whitespace-free and not special tokens")
    return [*SPECIAL, *words]


def build_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose tokens are exactly ``words`` (plus ``<unk>`` and ``<bos>``)."""
    vocab = {word: index for index, word in enumerate(vocabulary(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=UNK, bos_token=BOS)

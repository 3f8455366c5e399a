"""How many tokens a text costs, estimated without the model's tokenizer.

The estimate must not undershoot, or a prompt could pass the model's context. The server's
`/tokenize` is exact but costs a round trip per text and exists only on llama.cpp, so the
budget uses this estimate, which follows what byte-pair tokenizers do with each kind of text,
measured against SmolLM2's tokenizer through llama.cpp's /tokenize (`python -m
bench.llm_local`, 2 Dec):

    text              bytes  tokens  estimate  bytes/token  estimate/tokens
    English prose       808     145       345         5.57      2.38
    Python code         750     210       396         3.57      1.89
    JSON                450     216       348         2.08      1.61
    German              520     193       217         2.69      1.12
    Chinese             600     340       600         1.76      1.76
    emoji               630     392       630         1.61      1.61
    digits              328     328       328         1.00      1.00
    punctuation         264     185       264         1.43      1.43
    markup injection    448     185       288         2.42      1.56
    base64              416     368       408         1.13      1.11

The rules:

- a lowercase, Capitalised or UPPERCASE word: one token per 2.5 letters (English prose
  measured 5.6 bytes a token, German 2.7: SmolLM2 learnt mostly English, and other languages
  split into more pieces; so English is over-counted about 2x: cheap insurance);
- letters of mixed case (base64, identifiers): one token per letter (base64 measured 1.1
  bytes a token);
- a digit, an ASCII symbol, a run of whitespace (but one space before a word): one token each;
- anything beyond ASCII: one token per UTF-8 byte. Chinese measured 1.76 bytes a token and
  emoji 1.6 with spaces between them, but a 16 KB run of emoji without spaces cut to fit
  passed the context at 1.5 bytes a token (tests/assistants/test_prompt_on_the_model.py
  found it), and characters outside the vocabulary fall back to one token per byte.

A byte-level BPE tokenizer never makes more tokens than the text has bytes, so the estimate
is also capped at the byte count.
"""

from __future__ import annotations

import math
import re

__all__ = ["MESSAGE_OVERHEAD_TOKENS", "estimate_tokens"]

# Per chat message, the template's framing: "<|im_start|>user\n" ... "<|im_end|>\n" is 5 tokens
# with SmolLM2's ChatML template; other templates are in the same range.
MESSAGE_OVERHEAD_TOKENS = 8
_LETTERS_PER_WORD_TOKEN = 2.5
_PIECES = re.compile(r"[A-Za-z]+|[^\x00-\x7f]+|\s+|.", re.DOTALL)


def _piece_tokens(piece: str, following: str) -> int:
    first = piece[0]
    if first.isascii() and first.isalpha():
        if piece.islower() or piece.isupper() or piece.istitle():
            return math.ceil(len(piece) / _LETTERS_PER_WORD_TOKEN)
        return len(piece)
    if first.isspace():
        # One space before a word is part of the word's token; elsewhere it is one of its own.
        return 0 if piece == " " and following.isascii() and following.isalpha() else 1
    if not first.isascii():
        return len(piece.encode("utf-8"))
    return 1


def estimate_tokens(text: str) -> int:
    """An upper estimate of the tokens `text` costs (without the message framing)."""
    if not text:
        return 0
    estimate = sum(
        _piece_tokens(m.group(), text[m.end() : m.end() + 1]) for m in _PIECES.finditer(text)
    )
    return min(estimate, len(text.encode("utf-8")))

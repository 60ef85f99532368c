"""Chat → token ids and labels with the student's own chat template; loss on assistant tokens only.

TRL's `assistant_only_loss` needs `{% generation %}` markers in the chat template, which most released templates
(SmolLM2's included) lack. Instead the assistant spans are found by incremental templating: for every assistant
message i, the tokens of `template(messages[:i], add_generation_prompt=True)` end where its reply starts, and the
tokens of `template(messages[:i+1])` end where it stops. Both must be prefixes of the whole conversation's tokens
(checked — a template that rewrites earlier turns, e.g. by dropping past reasoning, is rejected with a clear
error). The labelled span includes the end-of-turn token (so the model learns to stop) but not whitespace the
template adds after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from clca.errors import ConfigError
from clca.llm.base import Message

IGNORE_INDEX = -100


def _ids(tokenizer, messages: Sequence[dict], add_generation_prompt: bool = False) -> list[int]:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
    # The template already writes the special tokens (BOS etc.); adding them again would duplicate them.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_chat(tokenizer, messages: Sequence[Message], max_length: int | None = None) -> tuple[list[int], list[int]]:
    """Return `(input_ids, labels)` with labels = −100 everywhere except the assistant replies."""
    chat = [m.model_dump() for m in messages]
    input_ids = _ids(tokenizer, chat)
    labels = [IGNORE_INDEX] * len(input_ids)
    for i, message in enumerate(chat):
        if message["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, chat[:i], add_generation_prompt=True))
        upto = _ids(tokenizer, chat[: i + 1])
        end = len(upto)
        if input_ids[:end] != upto or start > end:
            raise ConfigError(
                "the student's chat template is not prefix-stable (rendering a conversation changes how earlier "
                "turns are tokenised), so assistant tokens cannot be located — use a different student/template"
            )
        # Whitespace the template appends after the end-of-turn token is formatting, not the reply.
        while end > start and not tokenizer.decode(input_ids[end - 1 : end]).strip():
            end -= 1
        labels[start:end] = input_ids[start:end]
    if max_length is not None and len(input_ids) > max_length:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return input_ids, labels


def tokenizer_fingerprint(tokenizer) -> dict[str, object]:
    """What must match between dataset build and training for the stored token ids to be valid."""
    vocab = tokenizer.get_vocab()
    vocab_hash = hashlib.sha256(
        "\n".join(f"{tok}\t{idx}" for tok, idx in sorted(vocab.items(), key=lambda kv: kv[1])).encode("utf-8")
    ).hexdigest()
    template = tokenizer.chat_template or ""
    return {
        "name_or_path": str(getattr(tokenizer, "name_or_path", "")),
        "vocab_size": len(vocab),
        "vocab_sha256": vocab_hash,
        "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
    }

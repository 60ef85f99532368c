"""Loading the student model (and its tokenizer) for training.

A student is named by a backend spec, exactly as evaluation names it: `embedded` (SmolLM2-135M-Instruct) or
`hf:<path or hub name>`. The embedded model is read from the safetensors copy that `clca.llm.weights` converts
once from the GGUF, so training and the backends load the very same weights.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from clca.errors import BackendError, ConfigError
from clca.llm.spec import parse_spec
from clca.llm.weights import embedded_model_dir

log = logging.getLogger(__name__)

@dataclass
class StudentSpec:
    """A parsed backend spec restricted to what can be trained: a local transformers model."""

    backend: str  # "embedded" | "hf"
    model: str  # "embedded" or the hf path / name
    adapter: str | None = None


def parse_student_spec(spec: str) -> StudentSpec:
    """A backend spec (parsed by `clca.llm.spec`) that names a local, trainable model."""
    parsed = parse_spec(spec)
    if parsed.kind == "openai":
        raise ConfigError(
            f"student '{spec}': a student must be a local model — use 'embedded' or 'hf:<path or name>' "
            "(openai: models cannot be fine-tuned here)"
        )
    model = "embedded" if parsed.kind == "embedded" else str(parsed.model)
    return StudentSpec(parsed.kind, model, parsed.adapter)


def model_source(student: StudentSpec) -> str:
    """What `from_pretrained` should read for this student (the same converted copy the backends load)."""
    if student.backend == "embedded":
        return str(embedded_model_dir()[0])
    return student.model


def load_tokenizer(spec: str):
    """The student's tokenizer (its chat template drives the dataset's token ids and labels)."""
    from transformers import AutoTokenizer

    student = parse_student_spec(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_source(student))
    except OSError as exc:
        raise BackendError(f"student '{spec}': cannot load its tokenizer ({exc}) — check the path or name") from None
    if tokenizer.chat_template is None:
        raise ConfigError(
            f"student '{spec}': the tokenizer has no chat template — use an instruction-tuned (chat) model"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_student(spec: str, dtype: str = "auto", device: str = "auto", load_in_4bit: bool | None = None):
    """Load `(model, tokenizer, quantized)` for training. The model is not yet wrapped with LoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    student = parse_student_spec(spec)
    if student.adapter:
        raise ConfigError(
            f"student '{spec}': training starts from a base model — drop '+adapter=…' (continuing an adapter is "
            "not supported)"
        )
    cuda = torch.cuda.is_available() and device != "cpu"
    if load_in_4bit is None:
        load_in_4bit = cuda and importlib.util.find_spec("bitsandbytes") is not None
    if load_in_4bit and not cuda:
        raise ConfigError("train.load_in_4bit: 4-bit (QLoRA) needs a CUDA GPU — set it to false or null on CPU")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)

    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype,
        )
        # 4-bit weights are quantised while loading, so they must land on this process's GPU directly.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    source = model_source(student)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise BackendError(f"student '{spec}': cannot load the model ({exc}) — check the path or name") from None
    tokenizer = load_tokenizer(spec)
    return model, tokenizer, bool(load_in_4bit)

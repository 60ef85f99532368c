"""Local transformers backends: `embedded` (SmolLM2-135M-Instruct on CPU) and `hf:<path or name>`.

Generation is a small hand-written decoding loop over a KV cache instead of `model.generate`, for two reasons:
every request samples from its *own* `torch.Generator` seeded with `request.seed` (so a seeded request gives the
same text whatever else shares its batch), and stop strings / max_tokens are handled per request.

Option scoring: `log P(option tokens + end-of-turn token | chat prompt)`, summed over tokens. The prompt is the
chat template with `add_generation_prompt=True`; the continuation is the option's tokens followed by the
template's end-of-turn token (`<|im_end|>` for SmolLM2). The end-of-turn token is included because the option is
scored as the *complete* reply — without it " 1" would always score at least as high as " 10", of which it is
a prefix. Prompts that share a long prefix (a persona's questions) compute that prefix once (`clca.llm.prefix`)
and run their remaining tokens on a copy of its KV cache; other prompts run whole, left-padded. Then all options
of a prompt go side by side in one row after it, under a 4-D attention mask that lets each option see only the
prompt and its own earlier tokens, all in one further forward pass per batch (no copy of the cache per option).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

from clca.errors import BackendError
from clca.llm.base import (
    PENALTY_FIELDS,
    Backend,
    GenerationRequest,
    GenerationResult,
    Message,
    ModelIdentity,
    OptionScoringRequest,
    ProgressCallback,
)
from clca.llm.config import ModelConfig
from clca.llm.prefix import PrefixGroup, group_by_prefix
from clca.llm.spec import BackendSpec
from clca.llm.weights import (  # noqa: F401 - the adapter helpers are also imported from here
    adapter_sha256,
    check_adapter_dir,
    combined_sha256,
    embedded_model_dir,
    weight_files,
)

log = logging.getLogger(__name__)


def _resolve_device(option: str) -> torch.device:
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if option.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"device {option!r} requested but CUDA is not available — use device: cpu or auto")
    try:
        return torch.device(option)
    except RuntimeError:
        raise BackendError(f"device {option!r} is not a valid torch device — use auto, cpu, cuda or cuda:N") from None


def _resolve_dtype(option: str, device: torch.device) -> torch.dtype:
    if option == "auto":
        # fp32 on CPU: bf16 is ~1.5x faster here but makes batched and unbatched scores differ by ~1e-2.
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[option]


class LocalBackend(Backend):
    """A causal LM held in this process (CPU or one GPU)."""

    def __init__(self, *, spec: str, model, tokenizer, identity: ModelIdentity, batch_size: int,
                 model_dir: Path | None):
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self._identity = identity
        self.batch_size = batch_size
        self.model_dir = model_dir  # where the base weights live (the training stage fine-tunes from here)
        self.device = next(model.parameters()).device
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = eos_ids
        self.max_context = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self._eot_ids: list[int] | None = None
        # transformers 5.24 renamed the forward argument `past_key_values` to `cache` (old name warns).
        import inspect

        self._cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def _forward(self, past, **kwargs):
        """One model forward with a KV cache; returns (output, cache)."""
        out = self.model(**{self._cache_kwarg: past}, use_cache=True, **kwargs)
        cache = getattr(out, "cache", None)
        return out, cache if cache is not None else out.past_key_values

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def close(self) -> None:
        """Drop the model so its memory can be freed (the backend is unusable afterwards)."""
        if self.model is not None:
            on_cuda = self.device.type == "cuda"
            self.model = None
            if on_cuda:
                torch.cuda.empty_cache()

    # ---- prompts -------------------------------------------------------------------------------------------
    def prompt_text(self, messages: Sequence[Message]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError(f"model {self.spec!r} has no chat template — use an instruction-tuned model")
        return self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True
        )

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.tokenizer(self.prompt_text(messages), add_special_tokens=False).input_ids

    def end_of_turn_ids(self) -> list[int]:
        """Tokens the chat template puts right after an assistant reply (e.g. `<|im_end|>`), without the newline."""
        if self._eot_ids is None:
            marker = "\u2063CLCA\u2063"
            rendered = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
            )
            suffix = rendered.split(marker, 1)[1].rstrip()
            ids = self.tokenizer(suffix, add_special_tokens=False).input_ids if suffix else []
            if not ids and self.tokenizer.eos_token_id is not None:
                ids = [self.tokenizer.eos_token_id]
            self._eot_ids = ids
        return self._eot_ids

    def option_ids(self, option: str) -> list[int]:
        """The continuation scored for one option: its tokens plus the end-of-turn token(s)."""
        return self.tokenizer(option, add_special_tokens=False).input_ids + self.end_of_turn_ids()

    # ---- generation ----------------------------------------------------------------------------------------
    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        encoded: list[tuple[int, list[int]]] = []
        for i, request in enumerate(requests):
            ids = self.prompt_ids(request.messages)
            if self.max_context and len(ids) >= self.max_context:
                results[i] = GenerationResult.failure(
                    f"prompt of {len(ids)} tokens does not fit the model's context of {self.max_context} tokens"
                )
                if progress:
                    progress(1)
            else:
                encoded.append((i, ids))
        # Similar lengths together: less padding. Results go back by index, so order is preserved.
        encoded.sort(key=lambda item: len(item[1]))
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start:start + self.batch_size]
            outputs = self._generate_batch([requests[i] for i, _ in chunk], [ids for _, ids in chunk])
            for (i, _), result in zip(chunk, outputs, strict=True):
                results[i] = result
            if progress:
                progress(len(chunk))
        return results  # type: ignore[return-value]

    @staticmethod
    def _left_pad(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if seq:
                ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
                mask[row, width - len(seq):] = 1
        return ids.to(device), mask.to(device)

    @staticmethod
    def _penalise(logits: torch.Tensor, request: GenerationRequest, prompt: list[int],
                  output: list[int]) -> torch.Tensor:
        """One row's logits after the request's anti-repetition controls (see `GenerationRequest`)."""
        logits = logits.float().clone()
        if request.repetition_penalty not in (None, 1.0):
            seen = torch.tensor(sorted(set(prompt) | set(output)), dtype=torch.long, device=logits.device)
            picked = logits[seen]
            logits[seen] = torch.where(picked > 0, picked / request.repetition_penalty,
                                       picked * request.repetition_penalty)
        if output and (request.frequency_penalty or request.presence_penalty):
            counts = Counter(output)
            ids = torch.tensor(list(counts), dtype=torch.long, device=logits.device)
            n = torch.tensor(list(counts.values()), dtype=logits.dtype, device=logits.device)
            logits[ids] -= (request.frequency_penalty or 0.0) * n + (request.presence_penalty or 0.0)
        size = request.no_repeat_ngram_size
        if size:
            seq = prompt + output
            prefix = tuple(seq[len(seq) - size + 1:]) if size > 1 else ()
            banned = {seq[i + size - 1] for i in range(len(seq) - size + 1) if tuple(seq[i:i + size - 1]) == prefix}
            if banned:
                logits[torch.tensor(sorted(banned), dtype=torch.long, device=logits.device)] = -math.inf
        return logits

    @staticmethod
    def _sample(logits: torch.Tensor, request: GenerationRequest, generator: torch.Generator | None) -> int:
        if request.temperature == 0.0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / request.temperature, dim=-1)
        if request.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            keep = cumulative - sorted_probs < request.top_p  # always keeps the most likely token
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs.cpu(), 1, generator=generator))

    @torch.inference_mode()
    def _generate_batch(self, requests: list[GenerationRequest], prompts: list[list[int]]) -> list[GenerationResult]:
        started = time.perf_counter()
        n = len(requests)
        rows = _DecodingRows(self, requests, prompts)
        ids, mask = self._left_pad(prompts, self.tokenizer.pad_token_id, self.device)
        past, step_input, step_positions = None, ids, (mask.cumsum(-1) - 1).clamp(min=0)
        for _step in range(max(rows.limits)):
            out, past = self._forward(
                past, input_ids=step_input, attention_mask=mask, position_ids=step_positions, logits_to_keep=1
            )
            logits = out.logits[:, -1, :]
            greedy = logits.argmax(dim=-1).tolist()  # one device sync for all greedy rows
            next_tokens = [rows.step(row, logits[row], greedy[row]) for row in range(n)]
            if rows.all_finished():
                break
            step_input = torch.tensor(next_tokens, dtype=torch.long, device=self.device).unsqueeze(1)
            step_positions = step_positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=self.device)], dim=1)
        return rows.results(time.perf_counter() - started)

    # ---- option scoring ------------------------------------------------------------------------------------
    def score_options(
        self, requests: Sequence[OptionScoringRequest], progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        scores: list[list[float] | None] = [None] * len(requests)
        prompts, options = [], []
        for i, request in enumerate(requests):
            prompt = self.prompt_ids(request.messages)
            choices = [self.option_ids(option) for option in request.options]
            longest = len(prompt) + max(len(o) for o in choices)
            if self.max_context and longest > self.max_context:
                raise BackendError(
                    f"score_options request {i}: prompt plus option is {longest} tokens, more than the model's "
                    f"context of {self.max_context} — shorten the prompt"
                )
            prompts.append(prompt)
            options.append(choices)
        groups, singles = group_by_prefix(prompts)
        for group in groups:  # e.g. one persona's questions: its prefix's KV cache is computed once
            self._score_group(group, prompts, options, scores, progress)
        singles.sort(key=lambda i: len(prompts[i]))
        for start in range(0, len(singles), self.batch_size):
            chunk = singles[start:start + self.batch_size]
            batch_scores = self._score_batch([prompts[i] for i in chunk], [options[i] for i in chunk])
            for i, s in zip(chunk, batch_scores, strict=True):
                scores[i] = s
            if progress:
                progress(len(chunk))
        return scores  # type: ignore[return-value]

    @torch.inference_mode()
    def _score_group(self, group: PrefixGroup, prompts: list[list[int]], options: list[list[list[int]]],
                     scores: list, progress: ProgressCallback | None) -> None:
        """Score a group of prompts that share `group.prefix_len` tokens: the prefix once (batch of one), then the
        rest of each prompt in batches on top of a copy of its cache."""
        n = group.prefix_len
        prefix = torch.tensor([prompts[group.members[0]][:n]], dtype=torch.long, device=self.device)
        _, prefix_cache = self._forward(None, input_ids=prefix, attention_mask=torch.ones_like(prefix),
                                        logits_to_keep=1)
        members = sorted(group.members, key=lambda i: len(prompts[i]))  # similar suffix lengths together
        for start in range(0, len(members), self.batch_size):
            chunk = members[start:start + self.batch_size]
            past = copy.deepcopy(prefix_cache)
            past.batch_repeat_interleave(len(chunk))
            first, past, mask, next_pos = self._suffix_pass(past, n, [prompts[i][n:] for i in chunk])
            batch_scores = self._option_pass(first, past, mask, next_pos, [options[i] for i in chunk])
            for i, s in zip(chunk, batch_scores, strict=True):
                scores[i] = s
            if progress:
                progress(len(chunk))

    def _suffix_pass(self, past, prefix_len: int, suffixes: list[list[int]]):
        """The prompts' tokens after the shared prefix, right-padded on top of the prefix cache; returns the
        next-token log-probs at each prompt's last token, the cache, its attention mask and each row's next
        position."""
        rows, width = len(suffixes), max(len(s) for s in suffixes)
        ids = torch.full((rows, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((rows, prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for row, suffix in enumerate(suffixes):
            ids[row, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
            mask[row, prefix_len : prefix_len + len(suffix)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        last = torch.tensor([len(s) - 1 for s in suffixes], device=self.device)
        keep = torch.unique(last)  # only the rows' last positions need logits
        positions = prefix_len + torch.arange(width, device=self.device).expand(rows, width)
        out, past = self._forward(past, input_ids=ids, attention_mask=mask, position_ids=positions,
                                  logits_to_keep=keep)
        picked = out.logits[torch.arange(rows, device=self.device), torch.searchsorted(keep, last)]
        return torch.log_softmax(picked.float(), dim=-1), past, mask, prefix_len + last + 1

    @torch.inference_mode()
    def _score_batch(self, prompts: list[list[int]], options: list[list[list[int]]]) -> list[list[float]]:
        """Every prompt once, left-padded, keeping the KV cache and the next-token distribution; then the options."""
        ids, mask = self._left_pad(prompts, self.tokenizer.pad_token_id, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out, past = self._forward(None, input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        first_logprobs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        return self._option_pass(first_logprobs, past, mask, positions[:, -1] + 1, options)

    def _option_pass(self, first_logprobs: torch.Tensor, past, mask: torch.Tensor, next_pos: torch.Tensor,
                     options: list[list[list[int]]]) -> list[list[float]]:
        """All options of each prompt in one row after its cache, side by side: a 4-D attention mask lets each
        option's tokens see the prompt and the option's own earlier tokens only, and every option starts at the
        prompt's next position — the same numbers as one copy of the cache per option, without copying it."""
        rows = len(options)
        total = [[float(first_logprobs[r, o[0]]) for o in opts] for r, opts in enumerate(options)]
        spans = [[(sum(len(o) - 1 for o in opts[:j]), len(opt) - 1) for j, opt in enumerate(opts)] for opts in options]
        width = max(sum(length for _, length in row) for row in spans)
        if width == 0:
            return total
        cached = mask.shape[1]
        feed = torch.full((rows, width), self.tokenizer.pad_token_id, dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        allowed = torch.zeros((rows, 1, width, cached + width), dtype=torch.bool)
        allowed[:, 0, :, :cached] = mask.bool().cpu().unsqueeze(1)  # every new token sees its prompt
        start_pos = next_pos.cpu()
        for r, opts in enumerate(options):
            for (offset, length), option in zip(spans[r], opts, strict=True):
                if length:
                    feed[r, offset:offset + length] = torch.tensor(option[:-1], dtype=torch.long)
                    positions[r, offset:offset + length] = start_pos[r] + torch.arange(length)
                    own = torch.ones((length, length), dtype=torch.bool).tril()  # causal within the option
                    allowed[r, 0, offset:offset + length, cached + offset:cached + offset + length] = own
        dtype = next(self.model.parameters()).dtype
        bias = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
        out, _ = self._forward(past, input_ids=feed.to(self.device), attention_mask=bias.to(self.device),
                               position_ids=positions.to(self.device))
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        for r, opts in enumerate(options):
            for j, ((offset, length), option) in enumerate(zip(spans[r], opts, strict=True)):
                if length:
                    steps = torch.arange(offset, offset + length, device=self.device)
                    targets = torch.tensor(option[1:], dtype=torch.long, device=self.device)
                    total[r][j] += float(logprobs[r, steps, targets].sum())
        return total


def load_local(spec: BackendSpec, cfg: ModelConfig) -> LocalBackend:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(os.cpu_count() or 1)
    device = _resolve_device(cfg.device)
    dtype = _resolve_dtype(cfg.dtype, device)
    adapter = check_adapter_dir(spec.adapter) if spec.adapter else None
    quantization = None
    if spec.kind == "embedded":
        model_dir, gguf, weights_sha = embedded_model_dir()
        source, model_name = str(model_dir), gguf.name
    else:
        source = model_name = spec.model  # type: ignore[assignment]
        model_dir = Path(source).expanduser() if Path(source).expanduser().is_dir() else None
        want_4bit = cfg.load_in_4bit
        if want_4bit is None:
            want_4bit = device.type == "cuda" and _has_bitsandbytes()
        if want_4bit:
            if device.type != "cuda" or not _has_bitsandbytes():
                raise BackendError(f"{spec.model}: load_in_4bit needs CUDA and bitsandbytes — set load_in_4bit: false")
            from transformers import BitsAndBytesConfig

            quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype,
                                              bnb_4bit_quant_type="nf4")
        weights_sha = None
    try:
        kwargs = {"dtype": dtype}
        if quantization is not None:
            kwargs.update(quantization_config=quantization, device_map={"": device.index or 0})
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {source!r}: {str(exc).splitlines()[0]}") from None
    if quantization is None:
        model.to(device)
    if spec.kind == "hf":
        if model_dir is None:
            model_dir = _hub_snapshot_dir(source)
        files = weight_files(model_dir) if model_dir else []
        weights_sha = combined_sha256(files) if files else None
    adapter_hash = None
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(adapter))
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(f"adapter {str(adapter)!r} does not fit model {model_name!r}: "
                               f"{str(exc).splitlines()[0]}") from None
        if quantization is None:
            model = model.merge_and_unload()  # plain weights again: faster, and the decoding loop stays the same
        adapter_hash = adapter_sha256(adapter)
    model.eval()
    identity = ModelIdentity(
        backend=spec.kind, model=model_name, weights_sha256=weights_sha,
        adapter=str(adapter) if adapter else None, adapter_sha256=adapter_hash,
    )
    return LocalBackend(spec=cfg.spec, model=model, tokenizer=tokenizer, identity=identity,
                        batch_size=cfg.batch_size, model_dir=model_dir)


def _has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def _hub_snapshot_dir(name: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - identity hash is best effort for hub names
        return None


class _DecodingRows:
    """The rows of one batched generation: each row's sampler, token budget, output so far and why it stopped."""

    def __init__(self, backend: LocalBackend, requests: list[GenerationRequest], prompts: list[list[int]]):
        self.backend, self.requests, self.prompts = backend, requests, prompts
        self.tokenizer = backend.tokenizer
        self.generators = [None if r.temperature == 0.0 else _seeded_generator(r.seed) for r in requests]
        self.limits = [min(r.max_tokens, backend.max_context - len(p)) if backend.max_context else r.max_tokens
                       for r, p in zip(requests, prompts, strict=True)]
        self.generated: list[list[int]] = [[] for _ in requests]
        self.finish: list[str | None] = [None] * len(requests)
        self.texts: list[str | None] = [None] * len(requests)
        self.penalised = [any(getattr(r, name) is not None for name in PENALTY_FIELDS) for r in requests]

    def step(self, row: int, logits: torch.Tensor, greedy: int) -> int:
        """The row's next token (padding once it has finished), recording where it stops."""
        if self.finish[row] is not None:
            return self.tokenizer.pad_token_id
        request = self.requests[row]
        if self.penalised[row]:
            logits = self.backend._penalise(logits, request, self.prompts[row], self.generated[row])
        if request.temperature == 0.0:
            token = int(torch.argmax(logits)) if self.penalised[row] else greedy
        else:
            token = self.backend._sample(logits, request, self.generators[row])
        if token in self.backend.eos_ids:
            self.finish[row] = "stop"
            return token
        self.generated[row].append(token)
        if request.stop:
            text = self.tokenizer.decode(self.generated[row], skip_special_tokens=True)
            cut = min((text.find(s) for s in request.stop if s in text), default=-1)
            if cut >= 0:
                self.finish[row], self.texts[row] = "stop", text[:cut]
                return token
        if len(self.generated[row]) >= self.limits[row]:
            self.finish[row] = "length"
        return token

    def all_finished(self) -> bool:
        return all(f is not None for f in self.finish)

    def results(self, elapsed: float) -> list[GenerationResult]:
        return [
            GenerationResult(
                text=self.texts[row] if self.texts[row] is not None
                else self.tokenizer.decode(self.generated[row], skip_special_tokens=True),
                finish_reason=self.finish[row] or "length", prompt_tokens=len(self.prompts[row]),
                completion_tokens=len(self.generated[row]), latency_s=elapsed,
            )
            for row in range(len(self.requests))
        ]


def _seeded_generator(seed: int | None) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
    return generator

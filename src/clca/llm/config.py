"""How a stage names and configures the model behind one role (`models: {agent_a: {...}, judge: {...}}`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from clca.config import StrictModel


class ModelConfig(StrictModel):
    """A backend spec plus its options.

    Spec strings: `embedded` (SmolLM2-135M-Instruct on CPU, the default), `embedded+adapter=PATH`,
    `hf:<path or name>[+adapter=PATH]`, `openai:<model>@<base_url>[,<base_url>…]`.
    """

    spec: str = "embedded"
    # OpenAI-compatible servers: the *name* of the environment variable holding the key (never the key itself).
    api_key_env: str | None = None
    concurrency: int = Field(16, ge=1, description="max requests in flight (openai)")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout (openai)")
    max_retries: int = Field(5, ge=0, description="retries on 429/5xx/timeouts/connection errors (openai)")
    batch_size: int = Field(8, ge=1, description="prompts per forward pass (local models)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N (local models)")
    load_in_4bit: bool | None = Field(None, description="None = 4-bit when CUDA and bitsandbytes are present")
    cache: bool = Field(True, description="use the shared SQLite response cache")
    down_after_s: float = Field(
        60.0, gt=0, description="stop the stage when every server has been unreachable this long (openai); "
        "a server back within it is used again"
    )
    retry_backoff_s: float = Field(
        1.0, ge=0, description="first retry delay (openai); doubles per attempt, with jitter; Retry-After wins"
    )
    tokenizer: str | None = Field(
        None,
        description="openai score_options: HF tokenizer (path or name) whose chat template the served model uses",
    )

    served_adapter: str | None = Field(
        None,
        description="openai: the LoRA adapter directory the server serves under this spec's model name (vLLM "
        "--lora-modules NAME=DIR); recorded with its sha256 in provenance",
    )

    @model_serializer(mode="wrap")
    def _drop_unset_served_adapter(self, handler):
        """Left out when unset, so the fingerprints of runs that do not use it stay what they were."""
        data = handler(self)
        if data.get("served_adapter", 0) is None:
            del data["served_adapter"]
        return data

    @model_validator(mode="after")
    def _served_adapter_needs_a_server(self) -> ModelConfig:
        if self.served_adapter is not None and not self.spec.startswith("openai:"):
            raise ValueError(f"served_adapter is for 'openai:' specs (a server serving the adapter by name); for "
                             f"{self.spec!r} load it locally with '+adapter=PATH'")
        return self

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        """Only a variable's name: a key pasted here would end up in errors, manifests and logs."""
        from clca.llm.spec import check_env_name

        return None if name is None else check_env_name(name)

    @field_validator("spec")
    @classmethod
    def _parseable(cls, spec: str) -> str:
        """Reject a bad spec when the config is loaded, not when the stage that needs the model starts."""
        from clca.errors import ClcaError
        from clca.llm.spec import parse_spec

        try:
            parse_spec(spec)
        except ClcaError as exc:
            raise ValueError(str(exc)) from None
        return spec

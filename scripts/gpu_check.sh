#!/usr/bin/env bash
# GPU check: clca's local and served paths on one CUDA machine, within 8 minutes, writing
# benchmarks/results/gpu_check.json (and $OUT/gpu_check.json when $OUT is set). Nothing in CI depends on it.
#
# The GPU machine has torch and transformers preinstalled, reaches no package registry and takes at most 64 MiB of
# carried files, so neither vLLM nor the embedded model's weights can go there. Two steps:
#
#   scripts/gpu_check.sh prepare   # here, with registry access: build/gpu_check/ (wheels + SmolLM2 config/tokenizer)
#   scripts/gpu_check.sh           # there, with build/gpu_check carried beside the checkout
#
# The check: install clca from the carried wheels (no torch); build a model from SmolLM2's config and tokenizer
# with seeded random weights, saved as an HF folder; `clca models check hf:…` on CUDA; the pipeline at micro size
# with every role on CUDA (the LoRA training step's tokens/s comes from its train summary); score_options on CUDA
# vs CPU with the same weights and prompts (max |Δ log-prob|); `transformers serve --continuous-batching` on the
# GPU as the OpenAI-compatible server behind role-play. Each step is timed and recorded; a failing step is
# recorded with its error and the check goes on, so one run says as much as it can.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CARRY=${GPU_CHECK_CARRY:-build/gpu_check}
PY=${PYTHON:-python3}
PORT=${GPU_CHECK_PORT:-8011}
# small pure-Python (or tiny) packages clca needs beyond torch; their versions are pinned to this environment's
# at prepare time. Large ones a torch machine normally has (numpy, pandas, scipy, matplotlib) are not carried.
CARRIED="transformers huggingface_hub tokenizers safetensors peft trl accelerate aiohttp pydantic pydantic_core typer
rich pyyaml jinja2 markdown-it-py platformdirs fastapi starlette uvicorn openai httpx httpcore h11 anyio sniffio
distro jiter annotated-types typing-inspection datasets dill multiprocess xxhash fsspec"
# not carried: pyarrow (datasets needs it; ~40 MB would break the carry limit) — the install step reports it missing

prepare() {
    rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/smollm2"
    "$PY" -m pip wheel --no-deps --quiet -w "$CARRY/wheels" . || exit 1
    local pins=()
    for name in $CARRIED; do
        version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null) \
            && pins+=("$name==$version") || pins+=("$name")
    done
    # binary wheels for the GPU machine's Python (GPU_PYTHON_VERSION, default this one's)
    "$PY" -m pip download --no-deps --quiet --only-binary=:all: -d "$CARRY/wheels" \
        --python-version "${GPU_PYTHON_VERSION:-$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')}" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        "${pins[@]}" || exit 1
    # SmolLM2-135M-Instruct's config and tokenizer (from the embedded model), without its weights
    "$PY" - "$CARRY/smollm2" <<'PY' || exit 1
import shutil, sys
from pathlib import Path
from clca.llm.weights import embedded_model_dir
source, _, _ = embedded_model_dir()
for f in source.iterdir():
    if f.suffix in {".json", ".txt", ".jinja"} and not f.name.endswith(".index.json"):
        shutil.copy(f, Path(sys.argv[1]) / f.name)
PY
    du -sh "$CARRY"
    local bytes
    bytes=$(du -sb "$CARRY" | cut -f1)
    if [ "$bytes" -gt $((60 * 1024 * 1024)) ]; then
        echo "build/gpu_check is $((bytes / 1024 / 1024)) MiB: over the 64 MiB carry limit with margin" >&2
        exit 1
    fi
    echo "carry $CARRY to the GPU machine and run scripts/gpu_check.sh there"
}

if [ "${1:-}" = "prepare" ]; then
    prepare
    exit $?
fi

# ----------------------------------------------------------------------------------------------- on the GPU
WORK=${GPU_CHECK_WORK:-$(mktemp -d)}
mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"   # one JSON object per step, merged at the end
export CLCA_PROGRESS=0 CLCA_CACHE_DIR="$WORK/cache" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

record() {  # record STEP STATUS SECONDS [JSON-DETAILS]
    "$PY" -c 'import json, sys; print(json.dumps({"step": sys.argv[1], "status": sys.argv[2],
        "seconds": round(float(sys.argv[3]), 2), **json.loads(sys.argv[4] if len(sys.argv) > 4 else "{}")}))' \
        "$@" >> "$RESULTS"
}

step() {  # step NAME TIMEOUT_S COMMAND… : runs it, records ok/failed with the last lines of its output
    local name=$1 limit=$2
    shift 2
    local started=$SECONDS log="$WORK/$name.log"
    if timeout "$limit" bash -c '"$@"' step "$@" > "$log" 2>&1; then
        record "$name" ok $((SECONDS - started)) "$(tail -c 1500 "$log" | "$PY" -c 'import json,sys; print(json.dumps({"tail": sys.stdin.read()}))')"
    else
        local rc=$?
        record "$name" failed $((SECONDS - started)) "$(tail -c 3000 "$log" | "$PY" -c 'import json,sys; print(json.dumps({"exit": int(sys.argv[1]), "tail": sys.stdin.read()}))' "$rc")"
    fi
}

install() {
    # --no-deps: the machine's torch stays (clca pins a newer one); wheels for another Python are skipped
    for wheel in "$CARRY"/wheels/*.whl; do
        "$PY" -m pip install --no-index --no-deps --quiet "$wheel" || echo "skipped $(basename "$wheel")"
    done
    "$PY" - <<'PY'
import importlib.util, json, torch, transformers
from packaging.version import Version
assert torch.cuda.is_available(), "CUDA is not available"
assert Version(transformers.__version__) >= Version("5.23"), f"transformers {transformers.__version__} < 5.23"
missing = [m for m in ("clca", "peft", "trl", "datasets", "pyarrow", "fastapi", "uvicorn", "openai")
           if importlib.util.find_spec(m) is None]
print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                  "gpu": torch.cuda.get_device_name(0), "missing": missing}))
PY
}

build_model() {
    "$PY" - "$CARRY/smollm2" "$WORK/model" <<'PY'
import json, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
source, target = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
config = AutoConfig.from_pretrained(source)
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # seeded random weights
model.save_pretrained(target)
AutoTokenizer.from_pretrained(source).save_pretrained(target)
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
PY
}

parity() {
    "$PY" - "$WORK/model" <<'PY'
import json, os, sys, time
from clca.evaluation.personas import country_only_persona
from clca.evaluation.questions import load_question_bank
from clca.evaluation.strategies import get_strategy
from clca.llm import OptionScoringRequest, load_backend
model = sys.argv[1]
strategy, questions = get_strategy("persona"), load_question_bank().select("Q1,Q2,Q3,Q4,Q7,Q27,Q33,Q34")
requests = [OptionScoringRequest(messages=strategy.messages(country_only_persona(c), q),
                                 options=[str(o) for o in q.answer_codes])
            for c in ("DEU", "MEX", "JPN", "USA") for q in questions]
scores, seconds = {}, {}
gpu = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # cpu only to try the script's plumbing without a GPU
for name, options in {"cpu_fp32": {"device": "cpu", "dtype": "float32"},
                      "cuda_fp32": {"device": gpu, "dtype": "float32"},
                      "cuda_bf16": {"device": gpu, "dtype": "bfloat16"}}.items():
    backend = load_backend(f"hf:{model}", cache=False, load_in_4bit=False, **options)
    backend.score_options(requests[:2])  # warm-up
    started = time.perf_counter()
    scores[name] = backend.score_options(requests)
    seconds[name] = time.perf_counter() - started
    backend.close()
def max_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
print(json.dumps({"items": len(requests), "max_abs_logprob_diff_cuda_fp32_vs_cpu": max_diff(scores["cuda_fp32"], scores["cpu_fp32"]),
                  "max_abs_logprob_diff_cuda_bf16_vs_cpu": max_diff(scores["cuda_bf16"], scores["cpu_fp32"]),
                  "items_per_s": {k: len(requests) / v for k, v in seconds.items()}}))
PY
}

pipeline() {
    "$PY" - "$WORK/model" "$WORK" <<'PY'
import sys, yaml
model, work = sys.argv[1], sys.argv[2]
role = {"spec": f"hf:{model}", "device": "cuda", "load_in_4bit": False, "batch_size": 16}
config = {
    "name": "gpu", "runs_dir": f"{work}/runs", "cultures": ["DEU"],
    "models": {"default": role, "student": role},
    "scenarios": {"source": "seeds", "n": 4},
    "roleplay": {"max_turns": 4, "conversations_per_scenario": 2,
                 "agent_a": {"max_tokens": 32}, "agent_b": {"max_tokens": 32}},
    # random weights write noise: keep every conversation so that each stage downstream has work
    "judge": {"mode": "logprob", "gate": {"enabled": False}, "keep": {"drop_parts": [], "on_failure": "keep"}},
    "intents": {"max_tokens": 16},
    "dataset": {"max_length": 256},
    "train": {"preset": "standard", "max_steps": 8, "batch_size": 8, "per_device_batch_size": 8},
    "evaluation": {"baselines": ["persona"], "questions": "Q1,Q2,Q3,Q4,Q27", "human_source": "bundled",
                   "country_samples": 4, "mode": "logprob", "bootstrap_resamples": 50},
}
with open(f"{work}/gpu.yaml", "w") as f:
    yaml.safe_dump(config, f)
PY
    "$PY" -m clca.cli.main run --config "$WORK/gpu.yaml" || return 1
    "$PY" - "$WORK/runs/gpu" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
manifest = json.loads((run / "manifest.json").read_text())
train = json.loads(next(run.glob("*/train/adapter/summary.json")).read_text())
print(json.dumps({"stages": {k: v["status"] for k, v in manifest["stages"].items()},
                  "lora_tokens_per_s": train.get("tokens_per_s"), "lora_steps": train.get("global_step")}))
PY
}

served_roleplay() {
    transformers serve "$WORK/model" --continuous-batching --device cuda:0 --host 127.0.0.1 --port "$PORT" \
        --log-level warning > "$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null' EXIT TERM  # also when timeout stops us
    for _ in $(seq 120); do  # loading a 135M model takes seconds; CUDA init can take longer
        curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/serve.log"; return 1; }
        sleep 1
    done
    local spec="openai:$WORK/model@http://127.0.0.1:$PORT/v1"
    "$PY" -m clca.cli.main models check "$spec" --skip-scoring || return 1
    "$PY" -m clca.cli.main scenarios seeds --out "$WORK/seeds.jsonl" || return 1
    "$PY" - "$spec" "$WORK" <<'PY'
import json, sys, time
from clca.llm import GenerationRequest, Message, load_backend
from clca.roleplay import RoleplayConfig, run_roleplay
from clca.roleplay.runner import load_scenarios
spec, work = sys.argv[1], sys.argv[2]
backend = load_backend(spec, cache=False, concurrency=32, max_retries=1)
started = time.perf_counter()
results = backend.generate([GenerationRequest(messages=[Message(role="user", content=f"Tell me about city {i}.")],
                                              max_tokens=64, temperature=0.0) for i in range(64)])
seconds = time.perf_counter() - started
tokens = sum(r.completion_tokens or 0 for r in results if r.ok)
scenarios = load_scenarios(f"{work}/seeds.jsonl")[:8]
started = time.perf_counter()
summary = run_roleplay(scenarios, f"{work}/served_conversations.jsonl", backend,
                       config=RoleplayConfig(max_turns=4, conversations_per_scenario=2,
                                             agent_a={"max_tokens": 32}, agent_b={"max_tokens": 32}))
roleplay_s = time.perf_counter() - started
try:  # the issue's finding: transformers serve returns no prompt log-probabilities; keep the message
    from clca.llm import OptionScoringRequest
    load_backend(spec, cache=False, tokenizer=spec.split(":", 1)[1].split("@")[0]).score_options(
        [OptionScoringRequest(messages=[Message(role="user", content="1 or 2?")], options=["1", "2"])])
    scoring = "scored (the server gave prompt log-probabilities)"
except Exception as exc:  # noqa: BLE001 - recorded, not raised
    scoring = f"{type(exc).__name__}: {exc}"
print(json.dumps({"engine": backend.identity.engine, "engine_version": backend.identity.engine_version,
                  "generate_ok": sum(r.ok for r in results), "generate_tokens_per_s": tokens / seconds,
                  "roleplay_seconds": roleplay_s, "roleplay": summary.model_dump(mode="json"),
                  "score_options": scoring}))
PY
}

export PY CARRY WORK PORT
export -f install build_model parity pipeline served_roleplay
started_all=$SECONDS
# GPU_CHECK_STEPS picks steps (e.g. a rerun of one that failed); the limits add up to under 8 minutes
STEPS=" ${GPU_CHECK_STEPS:-install build_model models_check score_options_parity pipeline served_roleplay} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
want install && step install 50 install
want build_model && step build_model 40 build_model
want models_check && step models_check_hf_cuda 40 "$PY" -m clca.cli.main models check "hf:$WORK/model"
want score_options_parity && step score_options_parity 80 parity
want pipeline && step pipeline_all_roles_cuda 150 pipeline
want served_roleplay && step transformers_serve_roleplay 110 served_roleplay

mkdir -p benchmarks/results
"$PY" - "$RESULTS" "$((SECONDS - started_all))" <<'PY' | tee benchmarks/results/gpu_check.json
import json, platform, sys
steps = [json.loads(line) for line in open(sys.argv[1])]
for s in steps:  # a step's last output line is its JSON result, where it printed one
    lines = [l for l in s.get("tail", "").splitlines() if l.startswith("{")]
    if lines:
        try:
            s["result"] = json.loads(lines[-1])
        except ValueError:
            s["result"] = lines[-1]
    if s["status"] == "ok":
        s.pop("tail", None)
print(json.dumps({"ran": True, "seconds": int(sys.argv[2]), "platform": platform.platform(), "steps": steps},
                 indent=2))
PY
[ -n "${OUT:-}" ] && cp benchmarks/results/gpu_check.json "$OUT/gpu_check.json"
exit 0

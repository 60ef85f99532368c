"""`build_dataset`: kept (or all) conversations + intents → a tokenised Hugging Face dataset on disk.

Output folder:
- `data/` — `datasets.Dataset.save_to_disk`, columns `id, conversation_id, culture, task, view, messages
  (JSON text), input_ids, labels, num_tokens, num_label_tokens`; its `dataset_info.json` description holds the
  source hashes too;
- `preview.jsonl` — every example as readable chat messages plus the exact text that carries loss;
- `manifest.json` — config, source file hashes, tokenizer fingerprint, prompt template hashes, counts, data hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
from collections import Counter
from pathlib import Path

from clca.errors import ConfigError, InputDataError
from clca.intents.schema import ConversationIntents
from clca.jsonl import JsonlStore, file_sha256, write_json_atomic
from clca.judge.schema import Judgement
from clca.outdir import claim_output_dir
from clca.progress import progress_bar
from clca.roleplay.schema import Conversation
from clca.training.config import DatasetConfig
from clca.training.schema import DATA_DIR, DatasetManifest, SourceFile
from clca.training.student import load_tokenizer
from clca.training.tokenize import IGNORE_INDEX, encode_chat, tokenizer_fingerprint
from clca.training.views import View, intent_view, participant_view, template_refs

MANIFEST = "manifest.json"
PREVIEW = "preview.jsonl"


def _read_source(path: Path, model, what: str) -> tuple[list, SourceFile]:
    if not path.is_file():
        raise InputDataError(f"{path}: {what} file not found — check the path (it is written by the {what} stage)")
    records = JsonlStore(path, model).read()
    return records, SourceFile(path=str(path), sha256=file_sha256(path), records=len(records))


def rows_sha256(rows) -> str:
    """Content hash of a dataset: ids, token ids and labels in order (what the model actually trains on)."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps([row["id"], row["input_ids"], row["labels"]], separators=(",", ":")).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _sample(items: list[View], weight: float, rng: random.Random) -> list[View]:
    """`weight` whole copies of every item, plus a seeded sample for the fractional part."""
    whole, fraction = int(math.floor(weight)), weight - math.floor(weight)
    chosen: list[View] = []
    for copy in range(whole):
        chosen += [v if copy == 0 else v.model_copy(update={"id": f"{v.id}#copy{copy}"}) for v in items]
    extra = round(fraction * len(items))
    if extra:
        picked = sorted(rng.sample(range(len(items)), extra))
        chosen += [items[i] if whole == 0 else items[i].model_copy(update={"id": f"{items[i].id}#copy{whole}"})
                   for i in picked]
    return chosen


def collect_views(
    conversations: list[Conversation],
    judgements: list[Judgement] | None,
    intents: list[ConversationIntents] | None,
    config: DatasetConfig,
) -> tuple[list[View], Counter]:
    """Select conversations and produce the views of the selected tasks, with counts of what was skipped."""
    counts: Counter = Counter()
    keep = {j.conversation_id: j.keep for j in judgements} if judgements is not None else None
    intents_by_id = {i.conversation_id: i for i in intents} if intents is not None else {}
    want_dialogue = config.tasks in ("dialogue", "both") and config.dialogue_weight > 0
    want_intent = config.tasks in ("intent", "both") and config.intent_weight > 0
    dialogue: list[View] = []
    intent: list[View] = []
    seen: set[str] = set()
    for conv in conversations:
        if conv.id in seen:
            counts["skipped_duplicate_id"] += 1
            continue
        seen.add(conv.id)
        counts["conversations_read"] += 1
        if conv.termination == "error" or not conv.turns:
            counts["skipped_failed_conversation"] += 1  # an unfinished role-play is a failure, not data
            continue
        if keep is not None:
            if conv.id not in keep:
                counts["skipped_not_judged"] += 1
                continue
            if not keep[conv.id]:
                counts["skipped_judge_dropped"] += 1
                continue
        counts["conversations_used"] += 1
        if want_dialogue:
            for speaker in (0, 1):
                view = participant_view(conv, speaker)
                if view is None:
                    counts["skipped_view_without_assistant_turn"] += 1
                else:
                    dialogue.append(view)
        if want_intent:
            labels = intents_by_id.get(conv.id)
            if labels is None:
                counts["skipped_intent_view_no_labels"] += 1
                continue
            view = intent_view(conv, labels)
            if view is None:
                counts["skipped_intent_view_no_labels"] += 1
            else:
                intent.append(view)
    counts["dialogue_views"] = len(dialogue)
    counts["intent_views"] = len(intent)
    rng = random.Random(config.seed)
    chosen = _sample(dialogue, config.dialogue_weight, rng) if want_dialogue else []
    chosen += _sample(intent, config.intent_weight, rng) if want_intent else []
    counts["dialogue_examples"] = sum(v.task == "dialogue" for v in chosen)
    counts["intent_examples"] = sum(v.task == "intent" for v in chosen)
    return chosen, counts


def build_dataset(
    conversations_path: str | Path,
    out_dir: str | Path,
    config: DatasetConfig | None = None,
    judgements_path: str | Path | None = None,
    intents_path: str | Path | None = None,
) -> DatasetManifest:
    """Build the multi-task SFT dataset for `config.student` and write it to `out_dir` (replacing a previous one).

    Args:
        conversations_path: the conversations `clca roleplay` wrote.
        out_dir: the dataset folder.
        config: tasks, selection, weights, max length and the student whose tokenizer encodes the examples.
        judgements_path: the judge's output (needed with `data: kept`).
        intents_path: the intents (needed for the intent task).

    Returns:
        The manifest, also written to `out_dir/manifest.json`.
    """
    config = config or DatasetConfig()
    out_dir, conversations_path = claim_output_dir(out_dir, "dataset"), Path(conversations_path)
    conversations, judgements, intents, sources = _read_inputs(conversations_path, judgements_path, intents_path,
                                                               config)
    views, counts = collect_views(conversations, judgements, intents, config)
    _check_views(views, counts, config, conversations_path)
    tokenizer = load_tokenizer(config.student)
    rows, truncated = _tokenise(views, tokenizer, config, counts)
    data_sha256 = rows_sha256(rows)
    manifest = DatasetManifest(
        out_dir=str(out_dir), config=config, sources=sources, tokenizer=tokenizer_fingerprint(tokenizer),
        prompts=template_refs(), counts=dict(sorted(counts.items())), examples=len(rows),
        tokens=sum(r["num_tokens"] for r in rows), label_tokens=sum(r["num_label_tokens"] for r in rows),
        truncated=truncated, data_sha256=data_sha256,
    )
    _save(rows, out_dir, sources, data_sha256)
    _write_preview(out_dir / PREVIEW, rows, tokenizer)
    write_json_atomic(out_dir / MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def _read_inputs(conversations_path: Path, judgements_path: str | Path | None, intents_path: str | Path | None,
                 config: DatasetConfig):
    """The conversations, judgements and intents the config needs, with the hash of each source file."""
    sources: dict[str, SourceFile] = {}
    conversations, sources["conversations"] = _read_source(conversations_path, Conversation, "role-play")
    judgements = None
    if config.data == "kept":
        if judgements_path is None:
            raise ConfigError(
                "dataset.data is 'kept' but no judgements file was given — pass --judgements FILE "
                "(or use --data unfiltered for the no-filter ablation)"
            )
        judgements, sources["judgements"] = _read_source(Path(judgements_path), Judgement, "judge")
    intents = None
    if config.tasks in ("intent", "both") and config.intent_weight > 0:
        if intents_path is None:
            raise ConfigError(
                f"dataset.tasks is '{config.tasks}' but no intents file was given — pass --intents FILE "
                "(or use --tasks dialogue)"
            )
        intents, sources["intents"] = _read_source(Path(intents_path), ConversationIntents, "intents")
    return conversations, judgements, intents, sources


def _check_views(views: list, counts: Counter, config: DatasetConfig, conversations_path: Path) -> None:
    if not views:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)
        raise InputDataError(
            f"{conversations_path}: no training examples could be built ({detail or 'no conversations'}) — "
            "check that the judgements/intents files belong to these conversations"
        )
    wanted_tasks = {"dialogue": ["dialogue"], "intent": ["intent"], "both": ["dialogue", "intent"]}[config.tasks]
    for task in wanted_tasks:
        if getattr(config, f"{task}_weight") > 0 and counts[f"{task}_examples"] == 0:
            raise InputDataError(
                f"task '{task}' was selected but no {task} example could be built "
                f"({task}_views={counts[f'{task}_views']}) — check the {task} inputs or deselect the task"
            )


def _tokenise(views: list, tokenizer, config: DatasetConfig, counts: Counter) -> tuple[list[dict], int]:
    """Token ids and loss labels of every view; views that truncation leaves without a reply are skipped."""
    rows = []
    truncated = 0
    with progress_bar(len(views), "tokenising views") as advance:
        for view in views:
            advance(1)
            input_ids, labels = encode_chat(tokenizer, view.messages)
            if len(input_ids) > config.max_length:
                truncated += 1
                input_ids, labels = input_ids[: config.max_length], labels[: config.max_length]
            n_label = sum(label != IGNORE_INDEX for label in labels)
            if n_label == 0:  # truncation removed every reply: the example would carry no loss
                counts["skipped_fully_truncated"] += 1
                continue
            rows.append({
                "id": view.id, "conversation_id": view.conversation_id, "culture": view.culture,
                "task": view.task, "view": view.view,
                "messages": json.dumps([m.model_dump() for m in view.messages], ensure_ascii=False),
                "input_ids": input_ids, "labels": labels,
                "num_tokens": len(input_ids), "num_label_tokens": n_label,
            })
    if not rows:
        raise InputDataError(f"every example was longer than dataset.max_length={config.max_length} before its "
                             "first reply — raise max_length")
    return rows, truncated


def _save(rows: list[dict], out_dir: Path, sources: dict[str, SourceFile], data_sha256: str) -> None:
    """The rows as a `datasets` folder, swapped in for a previous build (written beside it first)."""
    import datasets

    out_dir.mkdir(parents=True, exist_ok=True)
    info = datasets.DatasetInfo(
        description=json.dumps({"clca_dataset": {"data_sha256": data_sha256,
                                                 "sources": {k: v.model_dump() for k, v in sources.items()}}}),
    )
    tmp = out_dir / (DATA_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    datasets.Dataset.from_list(rows, info=info).save_to_disk(str(tmp))
    final = out_dir / DATA_DIR
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)


def _write_preview(path: Path, rows: list[dict], tokenizer) -> None:
    """Readable examples: the messages, and exactly which text carries loss (decoded from the labels)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            spans, current = [], []
            for token, label in zip(row["input_ids"], row["labels"], strict=True):
                if label != IGNORE_INDEX:
                    current.append(token)
                elif current:
                    spans.append(tokenizer.decode(current))
                    current = []
            if current:
                spans.append(tokenizer.decode(current))
            record = {"id": row["id"], "task": row["task"], "view": row["view"],
                      "messages": json.loads(row["messages"]), "trained_text": spans,
                      "num_tokens": row["num_tokens"]}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_manifest(dataset_dir: str | Path) -> DatasetManifest:
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise InputDataError(f"{path}: not found — is {dataset_dir} a folder written by `clca dataset build`?")
    try:
        return DatasetManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputDataError(f"{path}: unreadable manifest ({str(exc).splitlines()[0]}) — rebuild the dataset") \
            from None

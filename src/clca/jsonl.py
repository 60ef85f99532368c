"""Crash-safe JSONL artifacts with pydantic records.

Every stage writes its outputs as one JSON object per line. Appends are single `write` calls of whole lines
followed by `fsync`, so a `kill -9` can at worst leave one torn *last* line; `JsonlStore.read` drops (and, when
opened for appending, truncates) such a tail, so a resumed run neither loses finished items nor duplicates them.
Records are split on "\\n" only and written with every other line-break character escaped, so any text a model or
user produces round-trips; a user-written last line without its newline is a complete record and is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from clca.errors import InputDataError

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger(__name__)


# Characters that `str.splitlines` (and many editors/tools) treat as line breaks but JSON leaves raw in strings.
_LINE_BREAKS_JSON_KEEPS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAKS_RE = re.compile("[\u0085\u2028\u2029]")
_BOM = "\ufeff"
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def dumps_line(obj: object) -> str:
    """One JSON line: non-ASCII kept readable, but every character any line splitter breaks on escaped.

    Args:
        obj: a JSON-serialisable object.

    Returns:
        The JSON text followed by "\\n"; it contains no other line-break character.
    """
    text = json.dumps(obj, ensure_ascii=False, sort_keys=False)
    if _SURROGATE_RE.search(text):  # not Unicode text (e.g. from a JSON "\\ud800" escape): UTF-8 cannot hold it
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _LINE_BREAKS_RE.sub(lambda m: _LINE_BREAKS_JSON_KEEPS[m.group(0)], text) + "\n"


def split_records(text: str) -> list[str]:
    """Split JSONL text into lines on "\\n" only (a record may hold U+2028, U+0085, FF… inside a string).

    Args:
        text: the decoded file content.

    Returns:
        The lines, without their "\\n" (a trailing "\\r" from CRLF files is left for the JSON parser to ignore).
    """
    return text.split("\n")


def _dump(record: BaseModel) -> str:
    return dumps_line(record.model_dump(mode="json"))


class JsonlStore(Generic[T]):
    """An append-only JSONL file of `model` records, keyed by `key(record)` for resume."""

    def __init__(self, path: str | Path, model: type[T], key: Callable[[T], str] = lambda r: r.id):  # type: ignore[attr-defined]
        self.path = Path(path)
        self.model = model
        self.key = key

    def exists(self) -> bool:
        return self.path.is_file()

    def _good_prefix_length(self, raw: bytes) -> int:
        """Length of the file without a torn tail from a crash.

        A last line without "\\n" is kept when it is a complete, valid record (a user-written file whose last
        line lacks the newline); a crash can only leave a prefix of `{...}\\n`, which never parses.
        """
        if not raw or raw.endswith(b"\n"):
            return len(raw)
        start = raw.rfind(b"\n") + 1
        try:
            self.model.model_validate_json(raw[start:].decode("utf-8").lstrip(_BOM))
        except (ValueError, UnicodeDecodeError):  # ValidationError is a ValueError
            return start
        return len(raw)

    def iter(self) -> Iterator[T]:
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        good = raw[: self._good_prefix_length(raw)]
        try:
            text = good.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:  # e.g. a hand-edited file saved as latin-1
            lineno = good.count(b"\n", 0, exc.start) + 1
            raise InputDataError(
                f"{self.path}:{lineno}: not UTF-8 (byte 0x{good[exc.start]:02x}) — re-save the file as UTF-8"
            ) from None
        text = text.removeprefix(_BOM)  # editors on Windows save "UTF-8 with BOM"; the BOM is not part of the data
        for lineno, line in enumerate(split_records(text), start=1):
            if not line.strip():
                continue
            try:
                yield self.model.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"]) or "<record>"
                msg = first["msg"]
                if _BOM in line:
                    msg += " (the line holds a byte-order mark U+FEFF — save the file as UTF-8 without BOM)"
                raise InputDataError(
                    f"{self.path}:{lineno}: field '{loc}': {msg[:300]} — fix or delete this line and rerun"
                ) from None

    def read(self) -> list[T]:
        """Every record, one per key (see `first_of_each`)."""
        return first_of_each(self.iter(), self.key, self.path)

    def keys(self) -> set[str]:
        return {self.key(r) for r in self.iter()}

    def repair_tail(self) -> None:
        """Truncate a torn last line left by a crash (or end a complete one), so appends start on a fresh line."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:  # the common case, a clean tail, costs one byte of reading
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
        raw = self.path.read_bytes()
        good = self._good_prefix_length(raw)
        with open(self.path, "r+b") as fh:
            if good != len(raw):
                fh.truncate(good)
            else:  # a complete last record without its newline: end the line so the next append starts afresh
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")

    def append(self, records: Iterable[T]) -> int:
        """Append records durably; returns how many were written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repair_tail()
        n = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                for record in records:
                    _write_fully(fd, _dump(record).encode("utf-8"))  # one write per line (O_APPEND: atomic)
                    n += 1
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:  # disk full / read-only: name the file; a torn tail is dropped on the next read
            raise _naming(exc, self.path) from exc
        return n

    def write_all(self, records: Iterable[T]) -> int:
        """Replace the file atomically (write to a temp file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        n = 0
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                for record in records:
                    fh.write(_dump(record))
                    n += 1
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:  # the old file is untouched; drop the partial temp file
            tmp.unlink(missing_ok=True)
            raise _naming(exc, self.path) from exc
        return n


def first_of_each(records: Iterable[T], key: Callable[[T], str], source: str | Path) -> list[T]:
    """The first record of each key, in file order, with a warning naming `source` if there were duplicates.

    Two processes on one output (before output locks existed) wrote every record twice; the first copy is the one
    a resumed run counted as done.

    Args:
        records: records as read from `source`.
        key: the record's identity (the store's resume key).
        source: the file, for the warning.

    Returns:
        The records without later duplicates.
    """
    seen: set[str] = set()
    kept: list[T] = []
    duplicates: list[str] = []
    for record in records:
        k = key(record)
        if k in seen:
            duplicates.append(k)
            continue
        seen.add(k)
        kept.append(record)
    if duplicates:
        log.warning("%s: %d duplicate records (%d ids, e.g. %r) — probably two runs wrote it at once; keeping the "
                    "first record of each", source, len(duplicates), len(set(duplicates)), duplicates[0])
    return kept


def write_json_atomic(path: str | Path, data: object) -> None:
    """Write a JSON document via temp file + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full / read-only: the previous version of `path` is untouched
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise _naming(exc, path) from exc


def _write_fully(fd: int, data: bytes) -> None:
    """os.write may write only part of the buffer (e.g. when the disk fills up); write the rest or raise."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _naming(exc: OSError, path: Path) -> OSError:
    """The same OSError, with the file name set when the failing call did not know it (write/flush/fsync)."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: object, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict ordering."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]

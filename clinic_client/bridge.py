"""The folder bridge: clinic software drops request files, answers appear beside them.

Like the real product's clinic link (連携アプリ), the bridge watches one folder:

- ``OQSsiquc01req_<id>.xml`` → sent to the server → ``OQSsiquc01res_<id>.xml``
- ``OQSmuquc01req_<id>.xml`` → sent to the server → ``OQSmuquc02res_<id>.xml``
- ``OQSsiquc01res_face_<timestamp>.xml`` (written by the reader) → picked up and reported

Rules, and why:

- A file is taken only when its size and mtime have not changed for ``settle_seconds`` **and** it
  parses: clinic programs write files in pieces, and a half-written file is not a bad file.
- A file still unreadable ``give_up_seconds`` after it stopped changing is bad: it is moved to
  ``error/`` with ``<name>.error.txt`` saying what was wrong (日本語 and English). Never deleted.
- Answers are written atomically (hidden temp file, then rename) in the request's encoding
  (``CharacterCodeIdentifier``: 0 UTF-8, 1 Shift_JIS), so clinic software never reads half an answer.
- ``.onshi-bridge/journal.jsonl`` records each file handled (name + SHA-256), so a restart resumes
  where it stopped and a file rewritten with new content is handled again.
- When the central system is down (F13) the request stays and is retried; after
  ``outage_answer_seconds`` an abnormal-end answer (SegmentOfResult 9) is written so the counter
  is not left waiting — the right response then is the 被保険者資格申立書, never 100%.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from clinic_client.client import OnshiClient
from clinic_client.errors import OnshiError, ServerUnavailable
from onshi import xmlcodec
from onshi.catalogue import FailureMode
from onshi.codes import CharacterCodeIdentifier, ProcessingResultStatus, SegmentOfResult
from onshi.messages import (
    BULK_REQUEST_STEM,
    BULK_RESULT_STEM,
    READER_RESULT_PREFIX,
    SINGLE_REQUEST_STEM,
    SINGLE_RESULT_STEM,
    BulkCheckRequestMessage,
    BulkResultBody,
    BulkResultHeader,
    BulkResultMessage,
    NumberCheckRequestMessage,
    ResultBody,
    ResultHeader,
    ResultMessage,
)
from onshi.timeutil import JST, timestamp

log = logging.getLogger("onshi.bridge")

STATE_DIR = ".onshi-bridge"
JOURNAL = "journal.jsonl"
ERROR_DIR = "error"

Kind = Literal["number", "bulk", "reader"]
REQUEST_PATTERN = re.compile(
    rf"^(?P<stem>{SINGLE_REQUEST_STEM}|{BULK_REQUEST_STEM})_(?P<id>[^/\\]+)\.xml$", re.IGNORECASE
)
READER_PATTERN = re.compile(rf"^{READER_RESULT_PREFIX}(?P<id>[^/\\]+)\.xml$", re.IGNORECASE)
ANSWER_STEMS = {SINGLE_REQUEST_STEM.lower(): SINGLE_RESULT_STEM, BULK_REQUEST_STEM.lower(): BULK_RESULT_STEM}
_DECLARED = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class BridgeSettings:
    folder: Path
    settle_seconds: float = 0.5  # unchanged this long before a file is read
    give_up_seconds: float = 10.0  # unreadable this long after the last change: a bad file
    poll_seconds: float = 1.0  # polling fallback (watchdog only wakes the loop earlier)
    outage_answer_seconds: float = 10.0  # server down this long: write an abnormal-end answer
    retry_seconds: float = 2.0  # between attempts while the server is down
    use_watchdog: bool = True


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    stable_since: float
    failing_since: float | None = None  # server unavailable since
    next_try: float = 0.0


@dataclass(frozen=True)
class BridgeEvent:
    """What happened to one file (also one line of the journal)."""

    name: str
    status: str  # answered | outage_answered | rejected | picked_up
    sha256: str
    answer: str | None = None
    detail: str = ""
    at: str = field(default_factory=lambda: datetime.now(JST).isoformat(timespec="seconds"))


def classify(name: str) -> tuple[Kind, str] | None:
    """File name → (kind, id) for files the bridge handles; None for everything else."""
    if name.startswith("."):
        return None
    if match := READER_PATTERN.match(name):
        return "reader", match["id"]
    if match := REQUEST_PATTERN.match(name):
        return ("number" if match["stem"].lower() == SINGLE_REQUEST_STEM.lower() else "bulk"), match["id"]
    return None


def answer_name(request_name: str) -> str:
    match = REQUEST_PATTERN.match(request_name)
    if not match:
        raise ValueError(request_name)
    return f"{ANSWER_STEMS[match['stem'].lower()]}_{match['id']}.xml"


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def declared_encoding(data: bytes) -> str | None:
    match = _DECLARED.match(data.lstrip(b"\xef\xbb\xbf")[:200])
    return match.group(1).decode("ascii", "replace").lower().replace("_", "-") if match else None


def _codec_of(encoding: CharacterCodeIdentifier) -> str:
    return "utf-8" if encoding is CharacterCodeIdentifier.UTF8 else "shift-jis"


class Journal:
    """Append-only JSON lines: the files already handled, by name and content hash."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder / STATE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self.done: dict[str, str] = {}  # name -> sha256 of the handled content
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that file will simply be handled again
                self.done[entry["name"]] = entry["sha256"]

    def handled(self, name: str, sha256: str) -> bool:
        return self.done.get(name) == sha256

    def record(self, event: BridgeEvent) -> None:
        line = json.dumps(event.__dict__, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.done[event.name] = event.sha256


class Bridge:
    """Handles the folder; :meth:`scan` does one pass, :meth:`run` loops until stopped.

    >>> with OnshiClient(settings) as client:  # doctest: +SKIP
    ...     Bridge(BridgeSettings(Path("/srv/onshi")), client).run()
    """

    def __init__(
        self,
        settings: BridgeSettings,
        client: OnshiClient,
        *,
        on_event: Callable[[BridgeEvent], None] | None = None,
        on_reader_result: Callable[[Path, ResultMessage], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.folder = settings.folder
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ERROR_DIR).mkdir(exist_ok=True)
        self.client = client
        self.journal = Journal(self.folder)
        self.on_event = on_event
        self.on_reader_result = on_reader_result
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._wake = threading.Event()

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        observer = self._start_watchdog() if self.settings.use_watchdog else None
        try:
            while not stop.is_set():
                self.scan()
                # Wake on a file event, or poll; short while files are settling.
                wait = self.settings.settle_seconds / 2 if self._seen else self.settings.poll_seconds
                self._wake.wait(min(wait, self.settings.poll_seconds))
                self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=2)

    def _start_watchdog(self) -> Any:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency; polling still works
            return None

        wake = self._wake

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        observer = Observer()
        try:
            observer.schedule(Wake(), str(self.folder), recursive=False)
            observer.start()
        except OSError as exc:  # e.g. inotify limits on a busy host: polling is enough
            log.warning("watchdog unavailable (%s); polling every %.1fs", exc, self.settings.poll_seconds)
            return None
        return observer

    def scan(self) -> list[BridgeEvent]:
        """One pass over the folder: handles every file that is ready."""
        events: list[BridgeEvent] = []
        now = self.clock()
        present: set[str] = set()
        for entry in sorted(os.scandir(self.folder), key=lambda e: e.name):
            if not entry.is_file():
                continue
            kind_id = classify(entry.name)
            if kind_id is None:
                continue
            present.add(entry.name)
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            seen = self._seen.get(entry.name)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._seen[entry.name] = _Seen(stat.st_size, stat.st_mtime_ns, now)
                continue  # changed since last look: let it settle
            if now - seen.stable_since < self.settings.settle_seconds or now < seen.next_try:
                continue
            event = self._handle(Path(entry.path), kind_id[0], seen, now)
            if event is not None:
                events.append(event)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return events

    # --- one file -------------------------------------------------------------------------

    def _handle(self, path: Path, kind: Kind, seen: _Seen, now: float) -> BridgeEvent | None:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if self.journal.handled(path.name, digest):
            self._seen.pop(path.name, None)
            return None
        if kind != "reader":
            answer = self.folder / answer_name(path.name)
            if (
                answer.exists()
                and answer.stat().st_mtime_ns >= seen.mtime_ns
                and path.name not in self.journal.done
            ):
                # Answered before a crash cut the journal line: record it, do not ask again.
                return self._finish(
                    BridgeEvent(path.name, "answered", digest, answer.name, "found after restart")
                )
        model: type[Any] = {
            "number": NumberCheckRequestMessage,
            "bulk": BulkCheckRequestMessage,
            "reader": ResultMessage,
        }[kind]
        try:
            message = xmlcodec.decode(data, model)
        except xmlcodec.MessageError as exc:
            if now - seen.stable_since < self.settings.give_up_seconds:
                return None  # maybe a writer that paused: wait a little longer
            return self._reject(path, digest, exc.message_ja, exc.message_en, exc.detail, exc.code)
        if kind == "reader":
            if self.on_reader_result is not None:
                self.on_reader_result(path, message)
            return self._finish(BridgeEvent(path.name, "picked_up", digest))
        return self._ask(path, kind, data, digest, message, seen, now)

    def _ask(
        self, path: Path, kind: Kind, data: bytes, digest: str, message: Any, seen: _Seen, now: float
    ) -> BridgeEvent | None:
        encoding: CharacterCodeIdentifier = message.MessageHeader.CharacterCodeIdentifier
        answer_path = self.folder / answer_name(path.name)
        try:
            answer = self.client.post_xml(
                kind, data, "shift_jis" if encoding is CharacterCodeIdentifier.SHIFT_JIS else None
            )
        except ServerUnavailable as exc:
            seen.failing_since = seen.failing_since or now
            seen.next_try = now + self.settings.retry_seconds
            if now - seen.failing_since < self.settings.outage_answer_seconds:
                log.warning("%s: central system unavailable, will retry: %s", path.name, exc)
                return None
            write_atomically(answer_path, self._outage_answer(kind, message, exc))
            return self._finish(
                BridgeEvent(path.name, "outage_answered", digest, answer_path.name, exc.describe())
            )
        except OnshiError as exc:
            # The server refused this request (bad numbers, wrong clinic code…): the file must be fixed.
            return self._reject(
                path,
                digest,
                exc.title_ja or "サーバーが要求を拒否しました",
                exc.title or "the server rejected the request",
                exc.detail,
                exc.code or "rejected",
            )
        write_atomically(answer_path, self._in_encoding(kind, answer.content, encoding))
        return self._finish(BridgeEvent(path.name, "answered", digest, answer_path.name))

    def _in_encoding(self, kind: Kind, content: bytes, encoding: CharacterCodeIdentifier) -> bytes:
        """The server's answer, re-encoded only if it is not already in the request's encoding."""
        wanted = _codec_of(encoding)
        declared = declared_encoding(content) or "utf-8"
        same = declared == wanted or (
            wanted == "shift-jis" and declared in {"shift-jis", "sjis", "cp932", "windows-31j"}
        )
        if same:
            return content
        model: type[Any] = ResultMessage if kind == "number" else BulkResultMessage
        return xmlcodec.encode(xmlcodec.decode(content, model), encoding)

    def _outage_answer(self, kind: Kind, request: Any, exc: OnshiError) -> bytes:
        header = request.MessageHeader
        failure = FailureMode.OUTAGE.value
        common: dict[str, Any] = {
            "ProcessExecutionTime": timestamp(datetime.now(JST)),
            "QualificationConfirmationDate": header.QualificationConfirmationDate,
            "MedicalInstitutionCode": header.MedicalInstitutionCode,
            "ArbitraryFileIdentifier": header.ArbitraryFileIdentifier,
            "SegmentOfResult": SegmentOfResult.ABNORMAL_END,
            "ErrorCode": exc.code or "server_unavailable",
            "ErrorMessage": (
                f"{failure.name_ja}: {failure.response_ja}10割負担にはしないでください。"
                f" / {failure.name_en}: {failure.response_en} Never charge 100%."
            ),
            "CharacterCodeIdentifier": header.CharacterCodeIdentifier,
        }
        if kind == "number":
            result: Any = ResultMessage(
                MessageHeader=ResultHeader(ReferenceClassification=header.ReferenceClassification, **common),
                MessageBody=ResultBody(ProcessingResultStatus=ProcessingResultStatus.ERROR),
            )
        else:
            result = BulkResultMessage(MessageHeader=BulkResultHeader(**common), MessageBody=BulkResultBody())
        return xmlcodec.encode(result, header.CharacterCodeIdentifier)

    def _reject(self, path: Path, digest: str, ja: str, en: str, detail: str, code: str) -> BridgeEvent:
        """Moves a bad file to error/ with an explanation beside it (never deleted)."""
        target = self.folder / ERROR_DIR / path.name
        if target.exists():  # keep earlier bad files too
            target = target.with_name(f"{path.stem}.{datetime.now(JST):%Y%m%d%H%M%S%f}{path.suffix}")
        shutil.move(str(path), target)
        explanation = (
            f"ファイル: {path.name}\n"
            f"処理できませんでした: {ja}\n"
            f"詳細: {detail}\n"
            f"このファイルは error/ に移動しました。内容を直して元のフォルダに置き直すと再処理されます。\n"
            f"\n"
            f"File: {path.name}\n"
            f"Could not be processed: {en}\n"
            f"Detail: {detail}\n"
            f"The file was moved to error/. Fix it and put it back in the folder to process it again.\n"
            f"\n"
            f"code: {code}\n"
            f"sha256: {digest}\n"
        )
        write_atomically(target.with_name(target.name + ".error.txt"), explanation.encode("utf-8"))
        self._seen.pop(path.name, None)
        return self._finish(BridgeEvent(path.name, "rejected", digest, None, f"{code}: {detail}"))

    def _finish(self, event: BridgeEvent) -> BridgeEvent:
        self.journal.record(event)
        self._seen.pop(event.name, None)
        log.info("%s: %s %s", event.name, event.status, event.answer or event.detail)
        if self.on_event is not None:
            self.on_event(event)
        return event

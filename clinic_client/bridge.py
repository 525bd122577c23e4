"""The folder bridge: clinic software drops request files in one folder and reads answers from another.

Like the real product's clinic link (連携アプリ), with a request folder and a result folder (the same
folder in the one-folder shorthand ``onshi bridge DIR``):

- ``OQSsiquc01req_<id>.xml`` → number check → ``OQSsiquc01res_<id>.xml`` in the result folder
- ``OQSmuquc01req_<id>.xml`` → bulk check step 1 → the receipt ``OQSmuquc01res_<id>.xml`` at once
- ``OQSmuquc02req_<id>.xml`` → bulk check step 2 → ``OQSmuquc02res_<id>.xml`` (SegmentOfResult 2 while the
  results are not ready: the clinic program asks again later with a new OQSmuquc02req)
- any other ``OQS…req_<id>.xml`` (OQSmuonq01req, OQSmuhvq01req, OQSmutic01req, OQSmuimm01req, …): not
  served by this mock → an abnormal-end answer ``OQS…res_<id>.xml`` (SegmentOfResult 9, ErrorCode B501)
- ``OQSsiquc01res_face_<timestamp>.xml`` (written by the reader into the result folder) → picked up, left
  in place for the clinic program

Rules, and why:

- A file is taken only when its size and mtime have not changed for ``settle_seconds`` **and** it
  parses: clinic programs write files in pieces, and a half-written file is not a bad file. The size is
  checked before anything is read: a file over ``max_bytes`` is refused without reading it.
- Once answered, the request is **moved** to ``<requests>/done/`` (kept, never deleted), so the request
  folder holds only what is still to do and a file dropped again later is a new request.
- A bad file (unreadable ``give_up_seconds`` after it stopped changing, refused by the server, a name we
  cannot answer under, a symbolic link, too large) is moved to ``<requests>/error/`` with
  ``<name>.error.txt`` saying what was wrong (日本語 and English), and the clinic program gets an
  abnormal-end answer (SegmentOfResult 9, ErrorCode B400) where a name can be answered. Never deleted.
- Answers are written atomically (short hidden temp file, then rename), with the request file's
  permissions, in the request's encoding (``CharacterCodeIdentifier``: 0 UTF-8, 1 Shift_JIS).
  Leftover temp files of a killed bridge are removed at start.
- ``<requests>/.onshi-bridge/journal.jsonl`` records, per file: ``taken`` with an idempotency key
  **before** asking the server, then the outcome. After a crash the same file is asked again with the
  same key and the server answers from its record: every file answered once, looked up once.
- When the central system is down (F13) the request stays and is retried; after
  ``outage_answer_seconds`` an abnormal-end answer (SegmentOfResult 9) is written so the counter
  is not left waiting — the right response then is the 被保険者資格申立書, never 100%.
- A name that cannot be answered safely is refused: control characters (a trailing newline), an id
  ``face_…`` (its answer would be a reader-result name), a name whose answer would not fit the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from clinic_client.client import OnshiClient
from clinic_client.errors import OnshiError, ServerUnavailable
from onshi import xmlcodec
from onshi.catalogue import FailureMode
from onshi.codes import BulkCode, CharacterCodeIdentifier, ProcessingResultStatus, SegmentOfResult
from onshi.messages import (
    BULK_DOWNLOAD_STEM,
    BULK_RECEIPT_STEM,
    BULK_REQUEST_STEM,
    BULK_RESULT_STEM,
    READER_RESULT_PREFIX,
    SINGLE_REQUEST_STEM,
    SINGLE_RESULT_STEM,
    BulkCheckRequestMessage,
    BulkDownloadRequestMessage,
    BulkReceiptBody,
    BulkReceiptHeader,
    BulkReceiptMessage,
    BulkResultBody,
    BulkResultHeader,
    BulkResultMessage,
    ErrorAnswerHeader,
    ErrorAnswerMessage,
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
DONE_DIR = "done"
TEMP_PREFIX = ".onshi-"
NAME_MAX = 255  # bytes of one file name on common file systems (ext4, NTFS, APFS)
TEXT_MAX = 400  # characters of an ErrorMessage (the XSDs' Text)

Kind = Literal["number", "bulk", "bulk_results", "unsupported", "bad_name", "reader"]
SERVED: dict[str, tuple[Kind, str]] = {
    SINGLE_REQUEST_STEM.lower(): ("number", SINGLE_RESULT_STEM),
    BULK_REQUEST_STEM.lower(): ("bulk", BULK_RECEIPT_STEM),
    BULK_DOWNLOAD_STEM.lower(): ("bulk_results", BULK_RESULT_STEM),
}
MODELS: dict[str, type[Any]] = {
    "number": NumberCheckRequestMessage,
    "bulk": BulkCheckRequestMessage,
    "bulk_results": BulkDownloadRequestMessage,
    "reader": ResultMessage,
}
ANSWER_MODELS: dict[str, type[Any]] = {
    "number": ResultMessage, "bulk": BulkReceiptMessage, "bulk_results": BulkResultMessage,
}
# Every request kind of the real exchange: OQS + 5 letters + 2 digits + req (OQSsiquc01req, OQSmuonq01req…).
REQUEST_PREFIX = re.compile(r"(?P<stem>OQS[a-z]{5}[0-9]{2}req)_", re.IGNORECASE)
REQUEST_PATTERN = re.compile(r"(?P<stem>OQS[a-z]{5}[0-9]{2}req)_(?P<id>.+)\.xml", re.IGNORECASE | re.DOTALL)
READER_PATTERN = re.compile(rf"{READER_RESULT_PREFIX}(?P<id>.+)\.xml", re.IGNORECASE | re.DOTALL)
CONTROL = re.compile("[\x00-\x1f\x7f]")
_DECLARED = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class BridgeSettings:
    folder: Path  # the request folder (and the result folder unless ``results`` is given)
    settle_seconds: float = 0.5  # unchanged this long before a file is read
    give_up_seconds: float = 10.0  # unreadable this long after the last change: a bad file
    poll_seconds: float = 1.0  # polling fallback (watchdog only wakes the loop earlier)
    outage_answer_seconds: float = 10.0  # server down this long: write an abnormal-end answer
    retry_seconds: float = 2.0  # between attempts while the server is down
    use_watchdog: bool = True
    results: Path | None = None  # the result folder; None: the request folder
    max_bytes: int = xmlcodec.DEFAULT_MAX_BYTES  # larger request files are refused unread

    @property
    def requests(self) -> Path:
        return self.folder

    @property
    def result_folder(self) -> Path:
        return self.results or self.folder


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    stable_since: float
    failing_since: float | None = None  # server unavailable since
    next_try: float = 0.0
    done: bool = False  # handled (a reader result left in place): skipped until it changes


@dataclass(frozen=True)
class BridgeEvent:
    """What happened to one file (also one line of the journal)."""

    name: str
    status: str  # taken | answered | outage_answered | rejected | picked_up
    sha256: str
    answer: str | None = None
    detail: str = ""
    key: str | None = None  # the Idempotency-Key of a taken request
    at: str = field(default_factory=lambda: datetime.now(JST).isoformat(timespec="seconds"))


class Refusal(Exception):
    """A file the bridge refuses: code, Japanese and English reason, detail."""

    def __init__(self, code: str, ja: str, en: str, detail: str = "") -> None:
        super().__init__(f"{code}: {en} {detail}")
        self.code, self.ja, self.en, self.detail = code, ja, en, detail


def classify(name: str) -> tuple[Kind, str] | None:
    """File name → (kind, id) for files the bridge handles; None for everything else."""
    if name.startswith("."):
        return None
    if match := READER_PATTERN.fullmatch(name):
        return "reader", match["id"]
    if match := REQUEST_PATTERN.fullmatch(name):
        if CONTROL.search(name):
            return "bad_name", match["id"]
        kind = SERVED.get(match["stem"].lower(), ("unsupported", ""))[0]
        return kind, match["id"]
    if (match := REQUEST_PREFIX.match(name)) and CONTROL.search(name):
        return "bad_name", name[match.end():]  # e.g. "OQSsiquc01req_A.xml\n": answered as nobody's
    return None


def answer_name(request_name: str) -> str:
    """The answer's name: the same id, the stem's ``req`` → ``res`` (OQSmuquc01req → OQSmuquc01res)."""
    match = REQUEST_PATTERN.fullmatch(request_name)
    if not match:
        raise ValueError(request_name)
    stem = match["stem"]
    served = SERVED.get(stem.lower())
    return f"{served[1] if served else stem[:-3] + 'res'}_{match['id']}.xml"


def bounded_name(name: str, suffix: str = "") -> str:
    """``name + suffix`` cut to fit ``NAME_MAX`` bytes: a long name keeps its start and a short hash."""
    whole = name + suffix
    if len(whole.encode("utf-8", "surrogateescape")) <= NAME_MAX:
        return whole
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    room = NAME_MAX - len(suffix.encode()) - len(digest) - 1
    cut = name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f"{cut}~{digest}{suffix}"


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A short temp name in the same folder, fsync, rename: readers see all or nothing. ``mode``: the
    permissions the file gets (the request's, so clinic software running as another user can read it)."""
    tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def declared_encoding(data: bytes) -> str | None:
    match = _DECLARED.match(data.lstrip(b"\xef\xbb\xbf")[:200])
    return match.group(1).decode("ascii", "replace").lower().replace("_", "-") if match else None


def _codec_of(encoding: CharacterCodeIdentifier) -> str:
    return "utf-8" if encoding is CharacterCodeIdentifier.UTF8 else "shift-jis"


def _file_encoding(data: bytes) -> CharacterCodeIdentifier:
    declared = declared_encoding(data)
    found = xmlcodec.character_code(declared) if declared else None
    return found or CharacterCodeIdentifier.UTF8


def _read_at_most(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes (never following a symbolic link), and its status; ``Refusal`` over ``limit``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise Refusal("not_a_file", "通常のファイルではありません", "not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_large(len(data), limit)
    return data, status


def _too_large(size: int, limit: int) -> Refusal:
    return Refusal(
        "file_too_large", "ファイルが大きすぎます", "file too large",
        f"{size:,} バイト以上あり、上限 {limit:,} バイトを超えています（読み込んでいません）。"
        "分割してください。"
        f" / At least {size:,} bytes; the limit is {limit:,} bytes (not read). Split it.",
    )


class Journal:
    """Append-only JSON lines: per file name, what happened last (taken with its key, or the outcome)."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder / STATE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self.last: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that file will simply be handled again
                self.last[entry["name"]] = entry

    @property
    def done(self) -> dict[str, str]:
        """name -> sha256 of the files handled to the end (not merely taken)."""
        return {name: e["sha256"] for name, e in self.last.items() if e.get("status") != "taken"}

    def handled(self, name: str, sha256: str) -> bool:
        return self.done.get(name) == sha256

    def taken_key(self, name: str, sha256: str) -> str | None:
        """The idempotency key of this content if it was taken and never finished (a crash)."""
        entry = self.last.get(name)
        if entry and entry.get("status") == "taken" and entry.get("sha256") == sha256:
            return str(entry.get("key"))
        return None

    def record(self, event: BridgeEvent) -> None:
        line = json.dumps(event.__dict__, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8", errors="surrogateescape") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.last[event.name] = event.__dict__


class Bridge:
    """Handles the folders; :meth:`scan` does one pass, :meth:`run` loops until stopped.

    >>> with OnshiClient(settings) as client:  # doctest: +SKIP
    ...     Bridge(BridgeSettings(Path("/srv/onshi/req"), results=Path("/srv/onshi/res")), client).run()
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
        self.folder = settings.requests
        self.results = settings.result_folder
        for folder in (self.folder, self.results, self.folder / ERROR_DIR, self.folder / DONE_DIR):
            folder.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.journal = Journal(self.folder)
        self.on_event = on_event
        self.on_reader_result = on_reader_result
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._wake = threading.Event()
        self._clean_temp_files()
        self._close_interrupted()

    def _close_interrupted(self) -> None:
        """A bridge killed after moving a request to done/ but before journalling it: record the outcome now,
        so the journal has one per file (and the same name dropped again later is a new request)."""
        for name, entry in list(self.journal.last.items()):
            if entry.get("status") != "taken" or (self.folder / name).exists():
                continue
            archived = self.folder / DONE_DIR / bounded_name(name)
            if archived.exists():
                answer = self.results / answer_name(name)
                self.journal.record(BridgeEvent(name, "answered", entry["sha256"], answer.name,
                                                "recorded after a restart", key=entry.get("key")))

    def _clean_temp_files(self) -> None:
        """Temp files a killed bridge left behind (ours, and the old ``.<name>.<random>.tmp`` form)."""
        for folder in {self.results, self.folder / ERROR_DIR, self.folder / DONE_DIR}:
            for entry in os.scandir(folder):
                if entry.name.endswith(".tmp") and entry.name.startswith((TEMP_PREFIX, ".OQS", ".oqs")):
                    Path(entry.path).unlink(missing_ok=True)
                    log.info("removed the leftover temp file %s", entry.path)

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
            for folder in {self.folder, self.results}:
                observer.schedule(Wake(), str(folder), recursive=False)
            observer.start()
        except OSError as exc:  # e.g. inotify limits on a busy host: polling is enough
            log.warning("watchdog unavailable (%s); polling every %.1fs", exc, self.settings.poll_seconds)
            return None
        return observer

    def _entries(self) -> list[tuple[os.DirEntry[str], Kind]]:
        found: dict[str, tuple[os.DirEntry[str], Kind]] = {}
        for folder, wanted_reader in ((self.folder, False), (self.results, True)):
            for entry in os.scandir(folder):
                kind_id = classify(entry.name)
                if kind_id is None or (kind_id[0] == "reader") != wanted_reader:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    continue
                found[entry.path] = (entry, kind_id[0])
        return sorted(found.values(), key=lambda item: item[0].name)

    def scan(self) -> list[BridgeEvent]:
        """One pass over the folders: handles every file that is ready. One bad file never stops it."""
        events: list[BridgeEvent] = []
        now = self.clock()
        present: set[str] = set()
        try:
            entries = self._entries()
        except OSError as exc:  # a folder removed or unreachable (a network share): try again next pass
            log.warning("cannot read the folders: %s", exc)
            return events
        for entry, kind in entries:
            present.add(entry.path)
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            seen = self._seen.get(entry.path)
            if seen is None or (seen.size, seen.mtime_ns) != (status.st_size, status.st_mtime_ns):
                self._seen[entry.path] = _Seen(status.st_size, status.st_mtime_ns, now)
                continue  # changed since last look: let it settle
            if seen.done or now - seen.stable_since < self.settings.settle_seconds or now < seen.next_try:
                continue
            path = Path(entry.path)
            try:
                event = self._handle(path, kind, seen, now, status)
            except Exception as exc:
                log.exception("%r: could not be handled", path.name)
                event = self._refuse_safely(path, kind, exc, seen, now)
            if event is not None:
                events.append(event)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return events

    # --- one file -------------------------------------------------------------------------

    def _handle(self, path: Path, kind: Kind, seen: _Seen, now: float,
                status: os.stat_result) -> BridgeEvent | None:
        if kind == "bad_name":
            raise Refusal("name_invalid", "ファイル名に制御文字（改行など）が含まれています",
                          "the file name contains a control character (a newline or similar)",
                          "ファイル名を直して置き直してください。 / Rename the file and put it back.")
        if stat.S_ISLNK(status.st_mode):
            raise Refusal("symlink_refused", "シンボリックリンクは処理しません",
                          "symbolic links are not followed",
                          "ファイルそのものを置いてください。 / Put the file itself in the folder.")
        if status.st_size > self.settings.max_bytes:
            raise _too_large(status.st_size, self.settings.max_bytes)
        data, _ = _read_at_most(path, self.settings.max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        if kind == "reader":
            if not self.journal.handled(path.name, digest):
                event = self._pick_up(path, data, digest, seen, now)
                if event is None:
                    return None
            else:
                event = None
            self._seen[str(path)] = seen
            seen.done = True  # read once; again only if it changes
            return event
        self._check_answerable(path.name)
        if kind == "unsupported":
            unsupported = BulkCode.KIND_UNSUPPORTED
            raise Refusal(unsupported.value, unsupported.ja, unsupported.en, path.name.split("_", 1)[0])
        try:
            message = xmlcodec.decode(data, MODELS[kind])
        except xmlcodec.MessageError as exc:
            if now - seen.stable_since < self.settings.give_up_seconds:
                return None  # maybe a writer that paused: wait a little longer
            raise Refusal(exc.code, exc.message_ja, exc.message_en, exc.detail) from None
        return self._ask(path, kind, data, digest, message, seen, now, status)

    def _check_answerable(self, name: str) -> None:
        answer = answer_name(name)
        if READER_PATTERN.fullmatch(answer):
            raise Refusal("name_reserved",
                          "この名前には結果を返せません（face_ で始まる ID はカードリーダーの結果用）",
                          "no answer can be given under this name (ids face_… are the reader's results)",
                          f"{answer}: ID を変えて置き直してください。"
                          " / Use another id and put the file back.")
        if len(answer.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise Refusal("name_too_long", "ファイル名が長すぎて結果ファイルを作れません",
                          "the file name is too long for an answer file",
                          f"{NAME_MAX} バイトまで / at most {NAME_MAX} bytes")

    def _pick_up(self, path: Path, data: bytes, digest: str, seen: _Seen, now: float) -> BridgeEvent | None:
        try:
            message = xmlcodec.decode(data, ResultMessage)
        except xmlcodec.MessageError as exc:
            if now - seen.stable_since < self.settings.give_up_seconds:
                return None
            raise Refusal(exc.code, exc.message_ja, exc.message_en, exc.detail) from None
        if self.on_reader_result is not None:
            self.on_reader_result(path, message)
        return self._finish(BridgeEvent(path.name, "picked_up", digest))

    def _ask(self, path: Path, kind: Kind, data: bytes, digest: str, message: Any, seen: _Seen, now: float,
             status: os.stat_result) -> BridgeEvent | None:
        header = message.MessageHeader
        # The answer's encoding: the request's (its header's CharacterCodeIdentifier, else its declaration).
        encoding: CharacterCodeIdentifier = header.CharacterCodeIdentifier or _file_encoding(data)
        asked = encoding
        key = self.journal.taken_key(path.name, digest)
        if key is None and kind != "bulk_results":  # a download looks nobody up: no key needed
            key = uuid.uuid4().hex
            self.journal.record(BridgeEvent(path.name, "taken", digest, key=key))
        answer_path = self.results / answer_name(path.name)
        mode = stat.S_IMODE(status.st_mode) & 0o666
        try:
            answer = self.client.post_xml(
                kind, data, "shift_jis" if asked is CharacterCodeIdentifier.SHIFT_JIS else None,
                idempotency_key=key,
            )
        except ServerUnavailable as exc:
            seen.failing_since = seen.failing_since or now
            seen.next_try = now + self.settings.retry_seconds
            if now - seen.failing_since < self.settings.outage_answer_seconds:
                log.warning("%s: central system unavailable, will retry: %s", path.name, exc)
                return None
            failure = FailureMode.OUTAGE.value
            text = (f"{failure.name_ja}: {failure.response_ja}10割負担にはしないでください。"
                    f" / {failure.name_en}: {failure.response_en} Never charge 100%.")
            write_atomically(answer_path, self._error_answer(kind, message, exc.code or "server_unavailable",
                                                             text, encoding), mode)
            return self._archive(path, BridgeEvent(path.name, "outage_answered", digest, answer_path.name,
                                                   exc.describe(), key=key))
        except OnshiError as exc:
            # The server refused this request (bad numbers, wrong clinic code…): the file must be fixed.
            raise Refusal(exc.code or "rejected", exc.title_ja or "サーバーが要求を拒否しました",
                          exc.title or "the server rejected the request", exc.detail) from None
        write_atomically(answer_path, self._in_encoding(kind, answer.content, asked), mode)
        return self._archive(path, BridgeEvent(path.name, "answered", digest, answer_path.name, key=key))

    def _in_encoding(self, kind: Kind, content: bytes, encoding: CharacterCodeIdentifier) -> bytes:
        """The server's answer, re-encoded only if it is not already in the request's encoding."""
        wanted = _codec_of(encoding)
        declared = declared_encoding(content) or "utf-8"
        same = declared == wanted or (
            wanted == "shift-jis" and declared in {"shift-jis", "sjis", "cp932", "windows-31j"}
        )
        if same:
            return content
        decoded = xmlcodec.decode(content, ANSWER_MODELS[kind])
        header = decoded.MessageHeader.model_copy(update={"CharacterCodeIdentifier": encoding})
        return xmlcodec.encode(decoded.model_copy(update={"MessageHeader": header}), encoding)

    def _error_answer(self, kind: Kind, request: Any, code: str, text: str,
                      encoding: CharacterCodeIdentifier) -> bytes:
        """An abnormal-end answer (SegmentOfResult 9) in the shape the clinic program expects for ``kind``."""
        header = request.MessageHeader if request is not None else None
        now = datetime.now(JST)
        clinic = getattr(header, "MedicalInstitutionCode", None) or self.client.settings.clinic_code
        common: dict[str, Any] = {
            "ProcessExecutionTime": timestamp(now),
            "MedicalInstitutionCode": clinic,
            "ArbitraryFileIdentifier": getattr(header, "ArbitraryFileIdentifier", None),
            "SegmentOfResult": SegmentOfResult.ABNORMAL_END,
            "ErrorCode": code[:64],
            "ErrorMessage": text[:TEXT_MAX],
            "CharacterCodeIdentifier": encoding,
        }
        day = getattr(header, "QualificationConfirmationDate", None) or now.strftime("%Y%m%d")
        result: Any
        if kind == "number":
            result = ResultMessage(
                MessageHeader=ResultHeader(QualificationConfirmationDate=day,
                                           ReferenceClassification=getattr(header, "ReferenceClassification",
                                                                           None), **common),
                MessageBody=ResultBody(ProcessingResultStatus=ProcessingResultStatus.ERROR),
            )
        elif kind == "bulk":
            result = BulkReceiptMessage(MessageHeader=BulkReceiptHeader(**common),
                                        MessageBody=BulkReceiptBody())
        elif kind == "bulk_results":
            number = request.MessageBody.ReceptionNumber if request is not None else "-"
            result = BulkResultMessage(
                MessageHeader=BulkResultHeader(QualificationConfirmationDate=day, ReceptionNumber=number,
                                               **common),
                MessageBody=BulkResultBody(),
            )
        else:
            result = ErrorAnswerMessage(MessageHeader=ErrorAnswerHeader(**common))
        return xmlcodec.encode(result, encoding)

    # --- moving files ---------------------------------------------------------------------

    def _move_aside(self, path: Path, folder: str) -> Path:
        """Moves the request into ``<requests>/<folder>/`` under a name that fits and is free."""
        target = self.folder / folder / bounded_name(path.name)
        if target.exists() or target.is_symlink():  # keep earlier files too
            target = self.folder / folder / bounded_name(path.name, f".{datetime.now(JST):%Y%m%d%H%M%S%f}")
        os.replace(path, target)
        return target

    def _archive(self, path: Path, event: BridgeEvent) -> BridgeEvent:
        self._move_aside(path, DONE_DIR)
        return self._finish(event)

    def _refuse_safely(self, path: Path, kind: Kind, exc: Exception, seen: _Seen,
                       now: float) -> BridgeEvent | None:
        """A refusal (or any failure) of one file: error answer, note and move where possible; if even
        that fails (a full disk, a vanished folder), log it and try again in a minute, never die."""
        refusal = exc if isinstance(exc, Refusal) else Refusal(
            "file_unhandled", "ファイルを処理できませんでした", "the file could not be handled",
            f"{type(exc).__name__}: {exc}")
        try:
            return self._reject(path, kind, refusal)
        except Exception:
            log.exception("%r: could not be moved to %s/ either; will try again", path.name, ERROR_DIR)
            seen.next_try = now + 60
            return None

    def _reject(self, path: Path, kind: Kind, refusal: Refusal) -> BridgeEvent:
        """Moves a bad file to error/ with an explanation beside it (never deleted) and, when its name can
        be answered, writes an abnormal-end answer so the clinic program is not left waiting."""
        digest = ""
        mode = 0o644
        data = b""
        try:
            status = path.lstat()
            mode = stat.S_IMODE(status.st_mode) & 0o666
            if stat.S_ISREG(status.st_mode) and status.st_size <= self.settings.max_bytes:
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
        except OSError:
            pass
        answer: str | None = None
        if kind in ("number", "bulk", "bulk_results", "unsupported") and refusal.code not in (
            "name_reserved", "name_too_long",
        ):
            try:
                request = xmlcodec.decode(data, MODELS[kind]) if kind in MODELS and data else None
            except xmlcodec.MessageError:
                request = None
            encoding = (request.MessageHeader.CharacterCodeIdentifier if request is not None
                        and request.MessageHeader.CharacterCodeIdentifier else _file_encoding(data))
            code = refusal.code if kind == "unsupported" else BulkCode.FILE_REJECTED.value
            unsupported, rejected = BulkCode.KIND_UNSUPPORTED, BulkCode.FILE_REJECTED
            text = (f"{unsupported.ja} / {unsupported.en}" if kind == "unsupported"
                    else f"{rejected.ja} {refusal.ja} / {refusal.en} ({refusal.code})")
            answer_path = self.results / answer_name(path.name)
            try:
                write_atomically(answer_path, self._error_answer(kind, request, code, text, encoding), mode)
                answer = answer_path.name
            except OSError as exc:
                log.warning("%r: no error answer could be written: %s", path.name, exc)
        target = self._move_aside(path, ERROR_DIR)
        explanation = (
            f"ファイル: {path.name!r}\n"
            f"処理できませんでした: {refusal.ja}\n"
            f"詳細: {refusal.detail}\n"
            f"このファイルは error/ に移動しました。内容を直して元のフォルダに置き直すと再処理されます。\n"
            + (f"医療機関システムには異常終了の結果ファイル {answer} を返しました。\n" if answer else "")
            + f"\n"
            f"File: {path.name!r}\n"
            f"Could not be processed: {refusal.en}\n"
            f"Detail: {refusal.detail}\n"
            f"The file was moved to error/. Fix it and put it back in the folder to process it again.\n"
            + (f"The clinic program got the abnormal-end answer {answer}.\n" if answer else "")
            + f"\n"
            f"code: {refusal.code}\n"
            f"sha256: {digest}\n"
        )
        write_atomically(target.with_name(bounded_name(CONTROL.sub("_", target.name), ".error.txt")),
                         explanation.encode("utf-8", "surrogateescape"), mode)
        return self._finish(BridgeEvent(path.name, "rejected", digest, answer,
                                        f"{refusal.code}: {refusal.detail}"))

    def _finish(self, event: BridgeEvent) -> BridgeEvent:
        self.journal.record(event)
        for folder in (self.folder, self.results):
            self._seen.pop(str(folder / event.name), None)
        log.info("%r: %s %s", event.name, event.status, event.answer or event.detail)
        if self.on_event is not None:
            self.on_event(event)
        return event

"""`onshi check …`, `onshi bridge DIR`, `onshi console`: the clinic side on the command line.

`onshi check` exits 0 when the qualification is valid, 1 when it is not, 2 when the check could
not be made (server down, bad input), so scripts can branch on it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
import httpx

from clinic_client.client import ClientSettings, OnshiClient, search_info
from clinic_client.clock import ServerClock
from clinic_client.errors import OnshiError
from clinic_client.explain import explain
from clinic_client.outcome import CheckOutcome, copay_label
from onshi import defaults, xmlcodec
from onshi.codes import CharacterCodeIdentifier, SegmentOfResult
from onshi.messages import (
    BulkCheckRequestMessage,
    BulkResultMessage,
    QualificationConfirmSearchInfo,
    ResultMessage,
)

SERVER = click.option(
    "--server", envvar=defaults.ENV_SERVER_URL, default=defaults.SERVER_URL, show_default=True
)
CLINIC = click.option(
    "--clinic-code",
    envvar=defaults.ENV_CLINIC_CODE,
    default=defaults.CLINIC_CODE,
    show_default=True,
    help="医療機関コード (10 digits)",
)
TOKEN = click.option(
    "--clinic-token",
    envvar=defaults.ENV_CLINIC_TOKEN,
    default=defaults.CLINIC_TOKEN,
    help="clinic bearer token (env ONSHI_CLINIC_TOKEN)",
)
FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "xml"]),
    default="text",
    show_default=True,
    help="output: readable text, JSON or the real XML",
)
SJIS = click.option("--sjis", is_flag=True, help="XML output in Shift_JIS")


def _client(server: str, clinic_code: str, clinic_token: str, timeout: float = 10.0) -> OnshiClient:
    """The clinic's client; its requests are dated by the server's simulated clock (one clock), so the
    answer's QualificationConfirmationDate and ProcessExecutionTime name the same day."""
    return OnshiClient(
        ClientSettings(
            server,
            clinic_code=clinic_code,
            clinic_token=clinic_token,
            timeout=timeout,
            today=ServerClock(server, timeout=min(timeout, 3.0)).today,
        )
    )


def _fail(exc: OnshiError, fmt: str) -> None:
    expl = explain(None, error=exc)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "error": exc.problem or {"code": exc.code, "detail": exc.detail},
                    "failures": list(expl.ids),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo(f"照会できませんでした / check failed: {exc.describe()}", err=True)
        for failure in expl.failures:
            click.echo(f"  {failure.id} {failure.value.name_ja}: {failure.value.response_ja}", err=True)
            click.echo(f"     {failure.value.name_en}: {failure.value.response_en}", err=True)
    sys.exit(2)


def outcome_json(outcome: CheckOutcome) -> dict[str, Any]:
    expl = explain(outcome)
    return {
        "valid": outcome.valid,
        "validity": outcome.validity.value if outcome.validity else None,
        "notes": [n.__dict__ for n in outcome.notes],
        "withheld": [n.__dict__ for n in outcome.withheld],
        "medical_info": sorted(k.value for k in outcome.medical_info),
        "failures": list(expl.ids),
        "result": outcome.message.model_dump(mode="json", exclude_none=True) if outcome.message else None,
    }


def outcome_text(outcome: CheckOutcome) -> str:
    lines = []
    validity = outcome.validity
    head = f"{validity.ja} / {validity.en}" if validity else "エラー / error"
    lines.append(("✔ " if outcome.valid else "✘ ") + f"資格 / qualification: {head}")
    if outcome.error_message:
        lines.append(f"  {outcome.error_message}")
    for r in outcome.results:
        lines.append(f"  氏名 / name: {r.Name}  ({r.NameKana or ''})  生年月日 / birth date: {r.Birthdate}")
        lines.append(
            f"  保険者 / insurer: {r.InsurerName} ({r.InsurerNumber})  "
            f"記号番号 / numbers: {r.InsuredCardSymbol or ''} {r.InsuredIdentificationNumber or ''}"
            f"-{r.InsuredBranchNumber or ''}"
        )
        lines.append(f"  負担割合 / co-pay: {copay_label(r)}")
        if r.ReasonOfLoss:
            lines.append(f"  喪失 / lost: {r.DisqualificationDate} {r.ReasonOfLoss.ja} / {r.ReasonOfLoss.en}")
    for note in outcome.notes:
        lines.append(f"  ! {note.code} {note.ja} / {note.en}")
    for failure in explain(outcome).failures:
        lines.append(f"  → {failure.id} {failure.value.name_ja}: {failure.value.response_ja}")
        lines.append(f"        {failure.value.name_en}: {failure.value.response_en}")
    return "\n".join(lines)


def write_xml(message: ResultMessage | BulkResultMessage, sjis: bool) -> None:
    """The answer as the real XML; the header's CharacterCodeIdentifier names the encoding used."""
    encoding = CharacterCodeIdentifier.SHIFT_JIS if sjis else CharacterCodeIdentifier.UTF8
    header = message.MessageHeader.model_copy(update={"CharacterCodeIdentifier": encoding})
    sys.stdout.buffer.write(xmlcodec.encode(message.model_copy(update={"MessageHeader": header}), encoding))
    sys.stdout.flush()


def _emit(outcome: CheckOutcome, fmt: str, sjis: bool) -> None:
    if fmt == "json":
        click.echo(json.dumps(outcome_json(outcome), ensure_ascii=False, indent=2))
    elif fmt == "xml" and outcome.message is not None:
        write_xml(outcome.message, sjis)
    else:
        click.echo(outcome_text(outcome))
    sys.exit(0 if outcome.valid else 1)


@click.group(help="資格確認（番号・カード・一括）/ eligibility checks: number, card, bulk")
def check() -> None:
    pass


@check.command("number", help="資格確認書・資格情報のお知らせの番号で確認 / number check")
@click.option("--insurer", "insurer_number", required=True, help="保険者番号")
@click.option("--symbol", default=None, help="記号")
@click.option("--number", required=True, help="番号")
@click.option("--branch", default=None, help="枝番 (2 digits)")
@click.option("--birthdate", required=True, help="生年月日 YYYYMMDD or YYYY-MM-DD")
@click.option(
    "--limit-consent/--no-limit-consent",
    default=False,
    show_default=True,
    help="患者が限度額情報の提供に同意したか（照会には必ず同意フラグ 1/0 が付きます）"
    " / whether the patient agreed to share the 限度額 data (the flag 1/0 is always sent)",
)
@SERVER
@CLINIC
@TOKEN
@FORMAT
@SJIS
def check_number(
    insurer_number: str,
    symbol: str | None,
    number: str,
    branch: str | None,
    birthdate: str,
    limit_consent: bool,
    server: str,
    clinic_code: str,
    clinic_token: str,
    fmt: str,
    sjis: bool,
) -> None:
    with _client(server, clinic_code, clinic_token) as client:
        try:
            outcome = client.number_check(
                insurer_number,
                number,
                birthdate.replace("-", ""),
                symbol=symbol,
                branch=branch,
                limit_consent=limit_consent,
            )
        except OnshiError as exc:
            _fail(exc, fmt)
            return
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    _emit(outcome, fmt, sjis)


def wait_for_reader(reader_url: str, patient_ref: str, wait_seconds: float) -> dict[str, Any] | None:
    """Polls the reader until this patient's check ends (result or error); None on time-out."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            state: dict[str, Any] = httpx.get(f"{reader_url}/api/reader/state", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            state = {}
        if state.get("patient_ref") in (None, patient_ref) and state.get("state") in ("result", "error"):
            return state
        time.sleep(0.5)
    return None


def card_outcome(summary: dict[str, Any], results_dir: Path) -> CheckOutcome:
    """The card check's outcome from the reader's result file (OQSsiquc01res_face_*.xml), as clinic
    software reads it, with the notes the reader passed on beside it (the XML has only the first)."""
    name = summary.get("file")
    if not name:
        raise FileNotFoundError("the reader wrote no result file")
    message = xmlcodec.decode((results_dir / str(name)).read_bytes(), ResultMessage)
    return CheckOutcome.from_card_check(
        {
            "result": message.model_dump(mode="json", exclude_none=True),
            **{k: summary.get(k) for k in ("check_id", "notes", "withheld", "medical_info")},
        }
    )


def reader_error_text(error: dict[str, Any]) -> str:
    lines = [f"✘ リーダーエラー / reader error {error.get('code')}: {error.get('ja')} / {error.get('en')}"]
    for failure in explain(None, reader_error=error).failures:
        lines.append(f"  → {failure.id} {failure.value.name_ja}: {failure.value.response_ja}")
        lines.append(f"        {failure.value.name_en}: {failure.value.response_en}")
    return "\n".join(lines)


@check.command("card", help="カードリーダーでカード確認を開始し結果を待つ / card check through the reader")
@click.argument("patient_ref")
@click.option("--reader-url", envvar=defaults.ENV_READER_URL, default=defaults.READER_URL, show_default=True)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=defaults.READER_RESULTS_DIR,
    show_default=True,
    help="the folder the reader writes OQSsiquc01res_face_*.xml to (its --results-dir)",
)
@click.option(
    "--wait", "wait_seconds", default=120.0, show_default=True, help="seconds to wait for the patient"
)
@FORMAT
@SJIS
def check_card(
    patient_ref: str, reader_url: str, results_dir: Path, wait_seconds: float, fmt: str, sjis: bool
) -> None:
    try:
        httpx.post(
            f"{reader_url}/api/reader/checks", json={"patient_ref": patient_ref}, timeout=5
        ).raise_for_status()
    except httpx.HTTPError as exc:
        click.echo(f"カードリーダーに接続できません / cannot reach the reader: {exc}", err=True)
        sys.exit(2)
    click.echo("カードリーダーで本人確認をしてください… / waiting for the patient at the reader…", err=True)
    state = wait_for_reader(reader_url, patient_ref, wait_seconds)
    if state is None:
        click.echo("時間内に結果がありません / no result in time", err=True)
        sys.exit(2)
    if state.get("state") == "error":
        # Nothing was checked (F6–F8, R5xx): no result message, so no XML either.
        error = state.get("error") or {}
        if fmt == "json":
            failures = [f.id for f in explain(None, reader_error=error).failures]
            click.echo(
                json.dumps({"reader_error": error, "failures": failures}, ensure_ascii=False, indent=2)
            )
        else:
            click.echo(reader_error_text(error), err=fmt == "xml")
        sys.exit(2)
    try:
        outcome = card_outcome(state.get("summary") or {}, results_dir)
    except (OSError, xmlcodec.MessageError) as exc:
        click.echo(
            f"結果ファイルを読めません / cannot read the reader's result file in {results_dir}: {exc}",
            err=True,
        )
        sys.exit(2)
    _emit(outcome, fmt, sjis)


def read_queries(path: Path) -> list[QualificationConfirmSearchInfo] | BulkCheckRequestMessage:
    """A bulk file: an OQSmuquc01req XML, a JSON list, or a CSV with a header row
    (id, insurer, symbol, number, branch, birthdate)."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xml":
        return xmlcodec.decode(data, BulkCheckRequestMessage)
    if path.suffix.lower() == ".json":
        rows = json.loads(data)
    else:
        rows = list(csv.DictReader(data.decode("utf-8-sig").splitlines()))
    return [
        search_info(
            str(r.get("insurer") or r.get("insurer_number")),
            str(r["number"]),
            str(r["birthdate"]).replace("-", ""),
            symbol=r.get("symbol") or None,
            branch=r.get("branch") or None,
            arbitrary_identifier=str(r.get("id") or i + 1),
        )
        for i, r in enumerate(rows)
    ]


NOT_READY_EXIT = 3


@check.command(
    "bulk",
    help="一括照会（受付→結果取得の2段階）/ bulk check in the real two steps, from a CSV, JSON or "
    "OQSmuquc01req XML file. Exit 3: received, results not ready yet (ask with `check bulk-results`).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@SERVER
@CLINIC
@TOKEN
@FORMAT
@SJIS
@click.option("--wait", default=0.0, show_default=True,
              help="seconds to keep asking for the results (every 2 s) before giving up with exit 3")
@click.option("--one-step", is_flag=True,
              help="receipt and results at once (our shorthand, not the real exchange)")
def check_bulk(file: Path, server: str, clinic_code: str, clinic_token: str, fmt: str, sjis: bool,
               wait: float, one_step: bool) -> None:
    try:
        queries = read_queries(file)
    except (ValueError, KeyError, xmlcodec.MessageError) as exc:
        raise click.BadParameter(f"{file}: {exc}") from exc
    with _client(server, clinic_code, clinic_token, timeout=60) as client:
        try:
            if one_step:
                result = client.bulk_check(queries)
            else:
                receipt = client.bulk_reception(queries)
                number = receipt.MessageBody.ReceptionNumber or ""
                click.echo(f"受付番号 / reception number: {number}", err=True)
                result = _bulk_results(client, number, wait)
        except OnshiError as exc:
            _fail(exc, fmt)
            return
    _bulk_output(result, fmt, sjis)


@check.command("bulk-results", help="一括照会の結果取得（OQSmuquc02req）/ the results of a bulk check by its "
               "reception number. Exit 3: not ready yet.")
@click.argument("reception_number")
@SERVER
@CLINIC
@TOKEN
@FORMAT
@SJIS
@click.option("--wait", default=0.0, show_default=True, help="seconds to keep asking (every 2 s)")
def check_bulk_results(reception_number: str, server: str, clinic_code: str, clinic_token: str, fmt: str,
                       sjis: bool, wait: float) -> None:
    with _client(server, clinic_code, clinic_token, timeout=60) as client:
        try:
            result = _bulk_results(client, reception_number, wait)
        except OnshiError as exc:
            _fail(exc, fmt)
            return
    _bulk_output(result, fmt, sjis)


def _bulk_results(client: OnshiClient, number: str, wait: float) -> BulkResultMessage:
    """Asks for the results until they are ready or ``wait`` seconds passed; not ready: exit 3 with the
    number to ask with later; unknown or expired: exit 2 with the server's reason."""
    deadline = time.monotonic() + wait
    while True:
        result = client.bulk_results(number)
        header = result.MessageHeader
        if header.SegmentOfResult is SegmentOfResult.NORMAL_END:
            return result
        if header.SegmentOfResult is SegmentOfResult.IN_PROGRESS and time.monotonic() < deadline:
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
            continue
        click.echo(f"{header.ErrorCode}: {header.ErrorMessage}", err=True)
        if header.SegmentOfResult is SegmentOfResult.IN_PROGRESS:
            click.echo(
                f"結果はまだ準備中です。後で `onshi check bulk-results {number}` で取得してください。"
                f" / Not ready yet: ask later with `onshi check bulk-results {number}`.", err=True)
            sys.exit(NOT_READY_EXIT)
        sys.exit(2)


def _bulk_output(result: BulkResultMessage, fmt: str, sjis: bool) -> None:
    outcomes = [CheckOutcome.from_bulk_unit(u) for u in result.MessageBody.BulkConfirmUnit]
    if fmt == "xml":
        write_xml(result, sjis)
    elif fmt == "json":
        click.echo(
            json.dumps(
                [{"id": o.extra.get("ArbitraryIdentifier"), **outcome_json(o)} for o in outcomes],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        trouble = [o for o in outcomes if not o.valid]
        click.echo(
            f"照会 / checked: {len(outcomes)}  有効 / valid: {len(outcomes) - len(trouble)}  "
            f"要対応 / needs attention: {len(trouble)}"
        )
        for o in outcomes:
            mark = "✔" if o.valid else "✘"
            name = o.primary.Name if o.primary else ""
            validity = f"{o.validity.ja} / {o.validity.en}" if o.validity else (o.error_message or "error")
            click.echo(f"{mark} {o.extra.get('ArbitraryIdentifier')}: {validity} {name}")
            if not o.valid:
                for failure in explain(o).failures:
                    click.echo(
                        f"    → {failure.id} {failure.value.response_ja} / {failure.value.response_en}"
                    )
    sys.exit(0 if all(o.valid for o in outcomes) else 1)


@click.command(
    help="フォルダ連携：要求フォルダのファイルを照会し、結果フォルダに結果を置く / folder bridge: "
    "requests from one folder, answers into another (DIR alone: one folder for both)"
)
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--requests", "requests_dir", type=click.Path(file_okay=False, path_type=Path),
              help="要求フォルダ / the folder the clinic program writes requests into")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              help="結果フォルダ / the folder answers go to (and the reader's OQSsiquc01res_face_*.xml)")
@SERVER
@CLINIC
@TOKEN
@click.option("--settle", default=0.5, show_default=True, help="seconds a file must stay unchanged")
@click.option("--give-up", default=10.0, show_default=True, help="seconds before an unreadable file is bad")
@click.option("--poll", default=1.0, show_default=True, help="polling interval (watchdog wakes earlier)")
@click.option(
    "--outage-answer",
    default=10.0,
    show_default=True,
    help="seconds of server outage before an abnormal-end answer is written",
)
def bridge(
    folder: Path | None,
    requests_dir: Path | None,
    results_dir: Path | None,
    server: str,
    clinic_code: str,
    clinic_token: str,
    settle: float,
    give_up: float,
    poll: float,
    outage_answer: float,
) -> None:
    from clinic_client.bridge import Bridge, BridgeEvent, BridgeSettings

    requests_dir = requests_dir or folder
    if requests_dir is None or (folder is not None and requests_dir != folder):
        raise click.UsageError("DIR か --requests のどちらか一つを指定してください / give DIR or --requests")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    def report(event: BridgeEvent) -> None:
        click.echo(f"{event.status:16} {event.name} {event.answer or event.detail}", nl=True)
        sys.stdout.flush()

    settings = BridgeSettings(
        requests_dir,
        results=results_dir,
        settle_seconds=settle,
        give_up_seconds=give_up,
        poll_seconds=poll,
        outage_answer_seconds=outage_answer,
    )
    click.echo(f"watching {requests_dir} → {server} → {settings.result_folder}", err=True)
    stop = threading.Event()
    # SIGTERM: finish the file in hand (answer, move, journal), then stop.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _client(server, clinic_code, clinic_token) as client, contextlib.suppress(KeyboardInterrupt):
        Bridge(settings, client, on_event=report).run(stop)


@click.command(help="受付画面（ブラウザ）/ reception console (web)")
@click.option("--port", default=8002, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@SERVER
@click.option("--reader-url", envvar=defaults.ENV_READER_URL, default=defaults.READER_URL, show_default=True)
@CLINIC
@TOKEN
@click.option("--clinic-name", default="さくら内科クリニック", show_default=True)
@click.option(
    "--patients",
    "patients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("var/console/patients.json"),
    show_default=True,
    help="the clinic's patient file (seeded with the demo patients when missing or empty)",
)
@click.option(
    "--reader-wait",
    default=120.0,
    show_default=True,
    help="seconds without progress at the reader before a card check ends with what to do next",
)
def console(
    port: int,
    host: str,
    server: str,
    reader_url: str,
    clinic_code: str,
    clinic_token: str,
    clinic_name: str,
    patients_file: Path,
    reader_wait: float,
) -> None:
    import uvicorn

    from clinic_client.console.app import ConsoleSettings, create_app
    from clinic_client.console.demo import DEFAULT_PERSONAS, demo_patients
    from clinic_client.records import PatientStore

    store = PatientStore(patients_file)
    existing = store.all()
    # An earlier demo file listed patients by persona name (f2-wrong-link …), which gives the exercise
    # away: it is rewritten with カルテ番号 (a clinic's own patient file, with no personas, is kept).
    old_demo = bool(existing) and all(p.persona and p.id == p.persona for p in existing)
    if (not existing or old_demo) and DEFAULT_PERSONAS.exists():
        store.replace_all(demo_patients())
        click.echo(f"demo patients written to {patients_file}", err=True)
    settings = ConsoleSettings(
        server_url=server,
        reader_url=reader_url or None,
        clinic_code=clinic_code,
        clinic_token=clinic_token or os.environ.get("ONSHI_CLINIC_TOKEN", ""),
        clinic_name=clinic_name,
        patients_file=patients_file,
        reader_wait_seconds=reader_wait,
        reader_unreachable_seconds=min(15.0, reader_wait),
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")

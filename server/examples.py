"""`onshi examples DIR`: real requests and answers for every persona and failure mode.

Runs the real code path: a real `onshi serve` process on a temporary SQLite database, the fixture
personas loaded through the admin API, a registered card reader, and real HTTP checks (number
checks, card checks signed by the virtual card / attested by the reader, one bulk check). What
the server answers is written as is, so the files are what clinic software would receive.

Layout::

    DIR/index.md                          the list (Japanese and English)
    DIR/OQSmuquc01req_bulk.xml            one bulk check over every persona, in the real two steps:
    DIR/OQSmuquc01res_bulk.xml              its receipt (ReceptionNumber)
    DIR/OQSmuquc02req_bulk.xml|_sjis.xml    the download request (UTF-8, Shift_JIS)
    DIR/OQSmuquc02res_bulk_in-progress.xml  the answer before the results are ready (SegmentOfResult 2)
    DIR/OQSmuquc02res_bulk.xml|_sjis.xml    the results (UTF-8, Shift_JIS)
    DIR/<persona>/OQSsiquc01req_<persona>.json|.xml        number-check request
    DIR/<persona>/OQSsiquc01res_<persona>.json|.xml|_sjis.xml   its answer (JSON, UTF-8, Shift_JIS)
    DIR/<persona>/card-check-request_<persona>.json        what the reader submits (card holders)
    DIR/<persona>/card-check-answer_<persona>.json         the answer (JSON)
    DIR/<persona>/OQSsiquc01res_face_<persona>.xml|_sjis.xml   the answer as the reader's result file
    DIR/<persona>/phone-check-request_<phone>.json|phone-check-answer_<phone>.json
    DIR/<persona>/OQSsiquc01res_face_<phone>.xml|_sjis.xml
                                          a check by phone (smartphone マイナ保険証, <person>.<platform>)
    DIR/F13-outage/OQSsiquc01req_F13-outage.json   a number check while the central system is down (F13)
    DIR/F13-outage/outage-answer_F13-outage.json   the 503 problem answer it gets, as is
    DIR/F13-outage/outage-answer-headers_F13-outage.json   its status, Content-Type and Retry-After
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onshi import defaults, xmlcodec
from onshi.catalogue import FailureMode
from onshi.codes import CharacterCodeIdentifier, ConsentFlag, QualificationValidity
from onshi.messages import (
    BULK_DOWNLOAD_STEM,
    BULK_RECEIPT_STEM,
    BULK_REQUEST_STEM,
    BULK_RESULT_STEM,
    READER_RESULT_PREFIX,
    SINGLE_REQUEST_STEM,
    SINGLE_RESULT_STEM,
    BulkCheckRequestMessage,
    BulkDownloadRequestBody,
    BulkDownloadRequestHeader,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
)
from onshi.procs import free_port, serving
from server.jlis import (
    attestation_payload,
    attested_method,
    nonce_bytes,
    present_certificate,
    private_key_from_pem,
    required_proofs,
    sign_attestation,
    sign_nonce,
)

# The clinic of the fixture set (fixtures/personas.yaml) the examples are made for.
CLINIC_CODE = defaults.CLINIC_CODE
CLINIC_TOKEN = defaults.CLINIC_TOKEN
# What the patient answers at the reader in the examples: consent to everything, electronic prescription.
CONSENTS = {"medication": True, "clinical": True, "operation": True, "checkup": True, "limit_bracket": True,
            "prescription": "1"}
LIMIT_CONSENT = ConsentFlag.CONSENTED if CONSENTS["limit_bracket"] else ConsentFlag.NOT_CONSENTED
UTF8, SJIS = CharacterCodeIdentifier.UTF8, CharacterCodeIdentifier.SHIFT_JIS
OUTAGE = FailureMode.OUTAGE.value
XML = {"Content-Type": "application/xml"}


@dataclass
class PersonaFiles:
    persona: dict[str, Any]
    files: list[str] = field(default_factory=list)
    number_outcome: str = ""
    card_outcome: str = ""
    phone_outcomes: list[str] = field(default_factory=list)


class _Session:
    """A clinic and an admin talking to the running server, with one registered reader."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/api/v1", timeout=60)
        self.admin_headers = {"Authorization": f"Bearer {admin_token}"}
        self.clinic_headers = {"X-Medical-Institution-Code": CLINIC_CODE,
                               "Authorization": f"Bearer {CLINIC_TOKEN}"}
        self.reader_id = ""
        self.device_key: ec.EllipticCurvePrivateKey | None = None

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/admin{path}", headers=self.admin_headers, **kwargs)
        response.raise_for_status()
        return response.json()

    def clinic(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.clinic_headers, **kwargs.pop("headers", {})}
        response = self.http.post(path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return response

    def register_reader(self) -> None:
        registration = self.admin("POST", "/readers", json={"clinic_code": CLINIC_CODE})
        key = private_key_from_pem(registration["device_key_pem"])
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.reader_id, self.device_key = registration["reader_id"], key

    def card_submission(self, persona: str, method: str, encoding: str,
                        phone: str | None = None) -> dict[str, Any]:
        """What the reader sends after the patient authenticated (face/visual: the reader attests).
        With ``phone`` (``<person>.<platform>``): the phone signs the nonce with its own key and the
        reader attests ``smartphone:<method>``."""
        card = self.admin("GET", f"/phones/{phone}" if phone else f"/cards/{persona}")
        nonce = self.clinic("/card-checks/challenge", json={"reader_id": self.reader_id}).json()["nonce"]
        signed = nonce_bytes(nonce)
        body: dict[str, Any] = {
            "reader_id": self.reader_id, "nonce": nonce, "certificate_pem": card["certificate_pem"],
            "method": method, "consents": CONSENTS, "encoding": encoding,
            "arbitrary_file_identifier": f"example-{phone or persona}",
        }
        if phone:
            body["medium"] = "smartphone"
        signature, attestation = required_proofs(method, phone is not None)
        if signature:
            key = serialization.load_pem_private_key(card["private_key_pem"].encode(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            body["card_signature"] = base64.b64encode(sign_nonce(key, signed)).decode()
        if attestation:
            assert self.device_key is not None
            der = present_certificate(card["certificate_pem"]).der
            attested = attested_method(method, phone is not None)
            payload = attestation_payload(signed, der, attested, self.reader_id)
            body["reader_attestation"] = base64.b64encode(sign_attestation(self.device_key, payload)).decode()
        return body


def _search_info(numbers: dict[str, Any], identifier: str | None = None) -> QualificationConfirmSearchInfo:
    """A number-check query as real clinic programs send it: always with the 限度額 consent flag
    (the patient agreed, as at the reader in these examples)."""
    return QualificationConfirmSearchInfo(
        InsurerNumber=str(numbers["insurer"]),
        InsuredCardSymbol=numbers.get("symbol") or None,
        InsuredIdentificationNumber=str(numbers["number"]),
        InsuredBranchNumber=numbers.get("branch") or None,
        Birthdate=date.fromisoformat(str(numbers["birthdate"])).strftime("%Y%m%d"),
        LimitApplicationCertificateRelatedConsFlg=LIMIT_CONSENT,
        ArbitraryIdentifier=identifier,
    )


def _header(day: str, encoding: CharacterCodeIdentifier, identifier: str, *, single: bool) -> dict[str, Any]:
    return {"QualificationConfirmationDate": day, "MedicalInstitutionCode": CLINIC_CODE,
            "ArbitraryFileIdentifier": identifier, "ReferenceClassification": "2" if single else None,
            "CharacterCodeIdentifier": encoding.value}


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _outcome(result: dict[str, Any]) -> str:
    """For the index: "1 有効 / valid (W001)", or "E002 エラー / error"."""
    body = result["MessageBody"]
    code = body.get("ProcessingResultCode")
    if body["ProcessingResultStatus"] == "2":
        return f"{code} エラー / error"
    validity = QualificationValidity(body["QualificationValidity"])
    return f"{validity.value} {validity.ja} / {validity.en}" + (f" ({code})" if code else "")


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def write(self, relative: str, content: str | bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        self.count += 1
        return relative


def _number_examples(session: _Session, out: _Writer, entry: PersonaFiles, day: str) -> None:
    pid = entry.persona["id"]
    info = _search_info(entry.persona["numbers"])
    files = entry.files
    for encoding, suffix in ((UTF8, ""), (SJIS, "_sjis")):
        message = NumberCheckRequestMessage.model_validate({
            "MessageHeader": _header(day, encoding, f"example-{pid}", single=True),
            "MessageBody": {"QualificationConfirmSearchInfo": info},
        })
        request_xml = xmlcodec.encode(message, encoding)
        if encoding is UTF8:
            files.append(out.write(f"{pid}/{SINGLE_REQUEST_STEM}_{pid}.json",
                                   _json(message.model_dump(mode="json", exclude_none=True))))
            files.append(out.write(f"{pid}/{SINGLE_REQUEST_STEM}_{pid}.xml", request_xml))
            answer = session.clinic("/number-checks", json=message.model_dump(mode="json", exclude_none=True))
            files.append(out.write(f"{pid}/{SINGLE_RESULT_STEM}_{pid}.json", _json(answer.json())))
            entry.number_outcome = _outcome(answer.json()["result"])
        response = session.clinic("/number-checks", content=request_xml, headers=XML)
        files.append(out.write(f"{pid}/{SINGLE_RESULT_STEM}_{pid}{suffix}.xml", response.content))


def _card_examples(session: _Session, out: _Writer, entry: PersonaFiles) -> None:
    pid = entry.persona["id"]
    variant = session.admin("GET", f"/cards/{pid}")["variant"]
    method = "visual" if variant == "infant" else "face"  # an infant's card has no photo
    submission = session.card_submission(pid, method, "utf-8")
    answer = session.clinic("/card-checks", json=submission).json()
    entry.files.append(out.write(f"{pid}/card-check-request_{pid}.json", _json(submission)))
    entry.files.append(out.write(f"{pid}/card-check-answer_{pid}.json", _json(answer)))
    entry.card_outcome = _outcome(answer["result"])
    for encoding, suffix in (("utf-8", ""), ("shift_jis", "_sjis")):
        submission = session.card_submission(pid, method, encoding)
        response = session.clinic("/card-checks", json=submission, params={"format": "xml"})
        entry.files.append(out.write(f"{pid}/{READER_RESULT_PREFIX}{pid}{suffix}.xml", response.content))


def _phone_examples(session: _Session, out: _Writer, entry: PersonaFiles) -> None:
    """Each of the persona's phones held on the 汎用カードリーダー: Android with the card's PIN, iPhone
    with Face ID / Touch ID on the phone. The answer is the same real message as a card's."""
    pid = entry.persona["id"]
    for phone in entry.persona.get("phones") or []:
        method = "biometric" if phone.endswith(".iphone") else "pin"
        submission = session.card_submission(pid, method, "utf-8", phone=phone)
        answer = session.clinic("/card-checks", json=submission).json()
        entry.files.append(out.write(f"{pid}/phone-check-request_{phone}.json", _json(submission)))
        entry.files.append(out.write(f"{pid}/phone-check-answer_{phone}.json", _json(answer)))
        for encoding, suffix in (("utf-8", ""), ("shift_jis", "_sjis")):
            submission = session.card_submission(pid, method, encoding, phone=phone)
            response = session.clinic("/card-checks", json=submission, params={"format": "xml"})
            name = f"{pid}/{READER_RESULT_PREFIX}{phone}{suffix}.xml"
            entry.files.append(out.write(name, response.content))
        entry.phone_outcomes.append(f"{phone.rsplit('.', 1)[1]} {_outcome(answer['result'])}")


def _bulk_example(session: _Session, out: _Writer, personas: list[dict[str, Any]], day: str) -> list[str]:
    """The real two steps: the request and its receipt, a download before the results are ready (処理中),
    then, 10 minutes later on the simulated clock, the results in UTF-8 and in Shift_JIS."""
    message = BulkCheckRequestMessage.model_validate({
        "MessageHeader": _header(day, UTF8, "example-bulk", single=False),
        "MessageBody": {"QualificationConfirmSearchInfo": [
            _search_info(p["numbers"], identifier=p["id"]) for p in personas
        ]},
    })
    request_xml = xmlcodec.encode(message, UTF8)
    receipt = session.clinic("/bulk-checks/receptions", content=request_xml, headers=XML)
    number = xmlcodec.decode(receipt.content, BulkReceiptMessage).MessageBody.ReceptionNumber or ""
    files = [out.write(f"{BULK_REQUEST_STEM}_bulk.xml", request_xml),
             out.write(f"{BULK_RECEIPT_STEM}_bulk.xml", receipt.content)]
    downloads: dict[str, bytes] = {}
    for encoding, suffix in ((UTF8, ""), (SJIS, "_sjis")):
        download = BulkDownloadRequestMessage(
            MessageHeader=BulkDownloadRequestHeader(MedicalInstitutionCode=CLINIC_CODE,
                                                    ArbitraryFileIdentifier="example-bulk",
                                                    CharacterCodeIdentifier=encoding),
            MessageBody=BulkDownloadRequestBody(ReceptionNumber=number),
        )
        downloads[suffix] = xmlcodec.encode(download, encoding)
        files.append(out.write(f"{BULK_DOWNLOAD_STEM}_bulk{suffix}.xml", downloads[suffix]))
    pending = session.clinic("/bulk-checks/results", content=downloads[""], headers=XML)
    files.append(out.write(f"{BULK_RESULT_STEM}_bulk_in-progress.xml", pending.content))
    session.admin("POST", "/clock", json={"advance_seconds": 600})  # the default delay until ready
    for suffix, download_xml in downloads.items():
        results = session.clinic("/bulk-checks/results", content=download_xml, headers=XML)
        files.append(out.write(f"{BULK_RESULT_STEM}_bulk{suffix}.xml", results.content))
    return files


OUTAGE_DIR = "F13-outage"


@dataclass(frozen=True)
class OutageFiles:
    files: list[str]
    status: int
    retry_after: str


def _outage_example(session: _Session, out: _Writer, persona: dict[str, Any], day: str) -> OutageFiles:
    """F13: the central system is down (a fault set through the admin API, cleared after). The clinic's
    number check gets the real 503 problem answer, written as is."""
    message = NumberCheckRequestMessage.model_validate({
        "MessageHeader": _header(day, UTF8, "example-outage", single=True),
        "MessageBody": {"QualificationConfirmSearchInfo": _search_info(persona["numbers"])},
    })
    request = message.model_dump(mode="json", exclude_none=True)
    session.admin("POST", "/faults", json={"outage": True})
    try:
        response = session.http.post("/number-checks", json=request, headers=session.clinic_headers)
    finally:
        session.admin("POST", "/faults", json={"outage": False})
    if response.status_code != 503:
        raise RuntimeError(f"the outage answered {response.status_code}, not 503: {response.text}")
    headers = {name: response.headers[name] for name in ("content-type", "retry-after")
               if name in response.headers}
    stem = f"{OUTAGE_DIR}/{{}}_{OUTAGE_DIR}.json"
    files = [out.write(stem.format(SINGLE_REQUEST_STEM), _json(request)),
             out.write(stem.format("outage-answer"), response.content),
             out.write(stem.format("outage-answer-headers"), _json({"status": 503, **headers}))]
    return OutageFiles(files, response.status_code, headers.get("retry-after", ""))


def _index(entries: list[PersonaFiles], bulk_files: list[str], day: str, outage: OutageFiles) -> str:
    lines = [
        "# onshi-sim 要求・応答の例 / example requests and answers",
        "",
        f"模擬中央システムに実際に送った要求と、その応答です（資格確認日 {day}、"
        f"医療機関コード {CLINIC_CODE}）。ペルソナごとのフォルダに、番号による資格確認"
        "（OQSsiquc01req / OQSsiquc01res、JSON・UTF-8・Shift_JIS）と、マイナ保険証による資格確認"
        "（カードリーダーの送信内容と応答、OQSsiquc01res_face_*.xml）があります。スマートフォンを搭載した"
        "ペルソナには、汎用カードリーダーで読んだスマートフォンによる資格確認"
        "（phone-check-*、medium smartphone）もあります。応答は同じ実際の電文です。"
        "患者はカードリーダーですべての情報提供に同意しています。番号確認の要求には、実際のレセコンと同じく"
        "限度額適用認定証提供同意フラグ（LimitApplicationCertificateRelatedConsFlg、1=同意）が付き、"
        "応答の QualificationConfirmSearchInfo にそのまま返ります。",
        "",
        f"Real requests sent to the mock central system and its answers (confirmation date {day}, medical "
        f"institution {CLINIC_CODE}). Each persona's folder holds the number check (OQSsiquc01req / "
        "OQSsiquc01res as JSON, UTF-8 and Shift_JIS XML) and, for card holders, the card check (what the "
        "reader submits and the answer, OQSsiquc01res_face_*.xml); personas with a phone also have the "
        "check by phone held on the general-purpose reader (phone-check-*, medium smartphone), whose answer "
        "is the same real message. The patient consented to everything at "
        "the reader. Each number-check request carries LimitApplicationCertificateRelatedConsFlg (1 = the "
        "patient agreed to share the 限度額 data), as real clinic programs send it, and the answer's "
        "QualificationConfirmSearchInfo echoes it.",
        "",
        "## 一括照会 / bulk check",
        "",
        *[f"- [{name}]({name})" for name in bulk_files],
        "",
        f"## {OUTAGE.id} {OUTAGE.name_ja} / {OUTAGE.name_en}",
        "",
        "中央システムが停止しているとき（管理APIで障害を設定）に番号による資格確認を送ると、"
        f"HTTP {outage.status}（Retry-After: {outage.retry_after} 秒）と problem+json の応答が返ります。"
        f"{OUTAGE.response_ja}",
        "",
        "A number check sent while the central system is down (a fault set through the admin API) gets "
        f"HTTP {outage.status} (Retry-After: {outage.retry_after} s) and a problem+json answer. "
        f"{OUTAGE.response_en}",
        "",
        *[f"- [{name}]({name})" for name in outage.files],
        "",
        "## ペルソナ / personas",
        "",
        "| ペルソナ / persona | 障害 / failure | 内容 | description | 番号確認 / number | カード / card "
        "| スマートフォン / phone | ファイル / files |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        p = entry.persona
        failure = p.get("failure") or ""
        if failure:
            mode = FailureMode.by_id(failure).value
            failure = f"{failure} {mode.name_ja} / {mode.name_en}"
        files = "<br>".join(f"[{Path(f).name}]({f})" for f in entry.files)
        card = entry.card_outcome or "—"
        lines.append(
            f"| `{p['id']}` | {failure or '—'} | {p['title_ja']} | {p['title_en']} | "
            f"{entry.number_outcome} | {card} | {'<br>'.join(entry.phone_outcomes) or '—'} | {files} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_examples(directory: Path) -> int:
    """Writes the examples into ``directory`` (created if needed); answers how many files it wrote."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = _Writer(directory)
    admin_token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="onshi-examples-") as tmp:
        env = {"ONSHI_DATABASE_URL": f"sqlite:///{Path(tmp) / 'onshi.db'}", "ONSHI_DATABASE_SCHEMA": "",
               "ONSHI_ADMIN_TOKEN": admin_token}
        port = free_port()
        try:
            with serving(["serve", "--port", str(port)], port, ready="/api/v1/health", env=env,
                         log=Path(tmp) / "server.log") as url:
                session = _Session(url, admin_token)
                try:
                    session.admin("POST", "/fixtures/load", json={"name": "personas"})
                    session.register_reader()
                    day = session.admin("GET", "/clock")["now"][:10].replace("-", "")
                    personas = sorted(session.admin("GET", "/personas"), key=lambda p: p["id"])
                    entries = [PersonaFiles(p) for p in personas]
                    for entry in entries:
                        _number_examples(session, out, entry, day)
                        if entry.persona["has_card"]:
                            _card_examples(session, out, entry)
                            _phone_examples(session, out, entry)
                    outage = _outage_example(session, out, personas[0], day)
                    # after the outage: proves the fault was cleared
                    bulk_files = _bulk_example(session, out, personas, day)
                finally:
                    session.http.close()
        except Exception as exc:
            log = (Path(tmp) / "server.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"writing the examples failed: {exc}\n--- server log ---\n{log}") from exc
    out.write("index.md", _index(entries, bulk_files, day, outage))
    return out.count

"""Wire messages <-> XML (UTF-8 / Shift_JIS) and JSON, parsed safely, with clear errors.

``encode`` walks a message model in field declaration order (= the spec's fixed element order).
``decode`` / ``decode_json`` are the inverse, generic over the models of ``onshi.messages``;
every failure is a ``MessageError`` whose ``code`` the HTTP layer turns into a problem+json
answer and whose ``detail`` names the element path, the value and what would have been valid.
``validate`` checks XML against the hand-written XSDs in ``onshi/schema`` (an independent check).

Decisions worth knowing:
- Security: size limit first, then encoding, then defusedxml (no DTD, no entities, no external
  references). The bytes are decoded by Python's codecs, never by the XML parser, so a
  declared encoding is always checked strictly.
- A file declaring Shift_JIS is decoded as strict Shift_JIS and, if that fails, as CP932:
  Windows clinic software writes CP932 (①, 髙, ～) while declaring Shift_JIS.
- Read like real programs, write like the real system: ``decode`` accepts any element order and
  skips elements it does not know (with a ``ReadNote`` in the caller's ``notes`` list and a log
  warning, never a refusal), as real clinic programs (C# XmlSerializer DTOs, a TypeScript parser)
  do; it still rejects repeated, missing and malformed elements, broken XML and bad encodings.
  The XSDs judge what we emit (``validate``), not what we read. Leaf text loses surrounding XML
  whitespace (space, tab, CR, LF; the ideographic space U+3000 is kept); whitespace-only text
  counts as empty, and an empty element of an optional field is the same as an absent one (None).
- ``encode`` writes the spec's fixed order; ``order`` overrides it per parent element (the real
  face-auth reader writes its own order, see cardreader_emulator/results.py).
"""

from __future__ import annotations

import json
import logging
import re
import reprlib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin
from xml.etree.ElementTree import Element as EtElement
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as defused_et
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from onshi.codes import CharacterCodeIdentifier, Code
from onshi.messages import (
    CHARACTER_INVALID,
    FORBIDDEN_CHARACTER,
    ROOT_ELEMENT,
    BulkQueryEcho,
    QualificationConfirmSearchInfo,
    RequestHeader,
    character_name,
)

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("onshi.xml")

DEFAULT_MAX_BYTES = 1_048_576
SCHEMA_DIR = Path(__file__).parent / "schema"
MESSAGE_KINDS = ("OQSsiquc01req", "OQSsiquc01res", "OQSmuquc01req", "OQSmuquc01res", "OQSmuquc02req",
                 "OQSmuquc02res")

XSI_NAMESPACE = "{http://www.w3.org/2001/XMLSchema-instance}"
XML_WHITESPACE = " \t\r\n"


class MessageError(Exception):
    """A message we cannot accept: ``code`` (snake_case), Japanese and English text, and detail."""

    TITLES: ClassVar[dict[str, tuple[str, str]]] = {
        "xml_too_large": ("XMLが大きすぎます", "XML message too large"),
        "xml_malformed": ("XMLの形式が正しくありません", "XML is not well-formed"),
        "xml_forbidden_construct": (
            "XMLに使用できない構文（DTD・実体参照・外部参照）が含まれています",
            "XML contains a forbidden construct (DTD, entity, external reference)",
        ),
        "encoding_invalid": ("文字コードが正しくありません", "invalid character encoding"),
        "schema_invalid": ("電文の内容が仕様に合っていません", "message does not match the schema"),
        "json_too_large": ("JSONが大きすぎます", "JSON message too large"),
        "json_malformed": ("JSONの形式が正しくありません", "JSON is not well-formed"),
        CHARACTER_INVALID: ("使用できない文字が含まれています", "a character that is not allowed"),
    }

    def __init__(self, code: str, detail: str, *, path: str | None = None) -> None:
        self.code = code
        self.message_ja, self.message_en = self.TITLES.get(code, ("電文エラー", "message error"))
        self.detail = encodable(detail)
        self.path = path
        super().__init__(f"{code}: {self.message_ja} / {self.message_en}: {detail}")

    def problem(self, status: int = 400) -> dict[str, Any]:
        """The problem+json body the API answers with."""
        return {
            "status": status,
            "code": self.code,
            "title": self.message_en,
            "title_ja": self.message_ja,
            "detail": self.detail,
        }


def encodable(text: str) -> str:
    """``text`` that UTF-8 can always encode: a lone surrogate (valid as a JSON escape) becomes \\udXXX."""
    if text.isascii():
        return text
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def shown(value: Any, limit: int = 60) -> str:
    """A value quoted in an error detail: controls and surrogates escaped, long or deep values cut."""
    if not isinstance(value, str):
        return reprlib.repr(value)
    text = FORBIDDEN_CHARACTER.sub(lambda m: f"\\u{ord(m.group(0)):04x}", value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- encode ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


ElementOrder = Mapping[str, Sequence[str]]
"""Parent element name -> the order its children are written in (children not listed follow in
declaration order)."""


def _append(parent: etree._Element, name: str, value: Any, order: ElementOrder) -> None:
    if value is None:
        return
    if isinstance(value, list | tuple):
        for item in value:
            _append(parent, name, item, order)
        return
    child = etree.SubElement(parent, name)
    if isinstance(value, BaseModel):
        _fill(child, value, order)
    else:
        child.text = _text(value)


def _ordered(names: Sequence[str], preferred: Sequence[str] | None) -> list[str]:
    if not preferred:
        return list(names)
    first = [n for n in preferred if n in names]
    return first + [n for n in names if n not in first]


def _fill(element: etree._Element, model: BaseModel, order: ElementOrder) -> None:
    # declaration order = the spec's fixed order, unless ``order`` says otherwise for this parent
    for name in _ordered(list(type(model).model_fields), order.get(str(element.tag))):
        _append(element, name, getattr(model, name), order)


def xml_encoding_name(encoding: CharacterCodeIdentifier) -> str:
    return "UTF-8" if encoding is CharacterCodeIdentifier.UTF8 else "Shift_JIS"


def encode(
    message: BaseModel,
    encoding: CharacterCodeIdentifier = CharacterCodeIdentifier.UTF8,
    *,
    order: ElementOrder | None = None,
    standalone: bool | None = None,
) -> bytes:
    """A message as an ``XmlMsg`` document in UTF-8 or Shift_JIS.

    Serialised to text by lxml and encoded by Python's codec, so the Shift_JIS bytes are exactly
    what ``"...".encode("shift_jis")`` gives; characters Shift_JIS lacks become ``&#NNNN;``.
    ``order``: per-parent element order instead of the spec's; ``standalone``: adds
    ``standalone="yes"/"no"`` to the declaration (the real reader writes ``"no"``).
    """
    root = etree.Element(ROOT_ELEMENT)
    _fill(root, message, order or {})
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    extra = "" if standalone is None else f' standalone="{"yes" if standalone else "no"}"'
    declaration = f'<?xml version="1.0" encoding="{xml_encoding_name(encoding)}"{extra}?>\n'
    return (declaration + body).encode(encoding.codec, errors="xmlcharrefreplace")


# --- bytes -> text ---------------------------------------------------------------------------

_DECLARATION = re.compile(rb"^<\?xml\s[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""\sencoding\s*=\s*["']([^"']*)["']""")

# Accepted declaration names (lower case, "_" as "-") -> the codecs to try in order.
_ENCODINGS: dict[str, tuple[str, ...]] = {
    "utf-8": ("utf-8",),
    "utf8": ("utf-8",),
    "shift-jis": ("shift_jis", "cp932"),
    "shiftjis": ("shift_jis", "cp932"),
    "sjis": ("shift_jis", "cp932"),
    "x-sjis": ("shift_jis", "cp932"),
    "cp932": ("cp932",),
    "ms932": ("cp932",),
    "windows-31j": ("cp932",),
}
ACCEPTED_ENCODINGS = "UTF-8, Shift_JIS (shift-jis, sjis, cp932, windows-31j)"


def character_code(name: str) -> CharacterCodeIdentifier | None:
    """The CharacterCodeIdentifier an encoding name stands for ("utf-8", "UTF8", "shift_jis", "sjis",
    "cp932", "Windows-31J", … or the code value "0"/"1"); None for any other name."""
    normalized = name.strip().lower().replace("_", "-")
    if normalized in ("0", "1"):
        return CharacterCodeIdentifier(normalized)
    codecs = _ENCODINGS.get(normalized)
    if codecs is None:
        return None
    return CharacterCodeIdentifier.UTF8 if codecs == ("utf-8",) else CharacterCodeIdentifier.SHIFT_JIS


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode_bytes(data: bytes, max_bytes: int, too_large: str) -> str:
    """Check size, BOM and declared encoding; return the document as text without declaration."""
    if len(data) > max_bytes:
        raise MessageError(
            too_large,
            f"電文が {len(data):,} バイトあり、上限 {max_bytes:,} バイトを超えています。"
            "分割して送信してください。"
            f" / The message is {len(data):,} bytes; the limit is {max_bytes:,} bytes. Split it.",
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:2] in (b"<\x00", b"\x00<"):
        raise MessageError(
            "encoding_invalid",
            "UTF-16 の電文は受け付けません。UTF-8 または Shift_JIS で送信してください。"
            " / UTF-16 is not accepted; send UTF-8 or Shift_JIS.",
        )
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    declaration = _DECLARATION.match(data)
    declared = None
    if declaration:
        found = _DECLARED_ENCODING.search(declaration.group(0))
        if found:
            declared = found.group(1).decode("ascii", errors="replace")
    name = (declared or "UTF-8").strip().lower().replace("_", "-")
    codecs = _ENCODINGS.get(name)
    if codecs is None:
        raise MessageError(
            "encoding_invalid",
            f"XML宣言の文字コード「{declared}」には対応していません（対応: {ACCEPTED_ENCODINGS}）。"
            f' / Declared encoding "{declared}" is not supported; use {ACCEPTED_ENCODINGS}.',
        )
    if bom and codecs != ("utf-8",):
        raise MessageError(
            "encoding_invalid",
            f"UTF-8 の BOM がありますが、XML宣言は「{declared}」です。どちらかに揃えてください。"
            f' / The data starts with a UTF-8 byte order mark but declares "{declared}".',
        )
    first_error: UnicodeDecodeError | None = None
    for codec in codecs:
        try:
            text = data.decode(codec)
            break
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    else:
        assert first_error is not None
        bad = data[first_error.start : first_error.end]
        where = f"{first_error.start}（{_line_of(data, first_error.start)}行目）"
        hint_ja = hint_en = ""
        if codecs == ("utf-8",):
            try:
                data.decode("cp932")
                hint_ja = '。Shift_JIS のデータのようです。XML宣言を encoding="Shift_JIS" にしてください'
                hint_en = '. The data looks like Shift_JIS: declare encoding="Shift_JIS"'
            except UnicodeDecodeError:
                pass
        label = declared or "UTF-8（宣言なし / no declaration)"
        raise MessageError(
            "encoding_invalid",
            f"{label} として読めないバイト {bad.hex(' ')} がオフセット {where} にあります{hint_ja}。"
            f" / Bytes {bad.hex(' ')} at offset {first_error.start} (line "
            f"{_line_of(data, first_error.start)}) are not valid {declared or 'UTF-8'}{hint_en}.",
        ) from None
    if codec == "cp932":
        _reject_private_use(text, declared)
    if declaration:
        # Blank the declaration out (the bytes are already decoded) keeping line/column numbers.
        width = len(declaration.group(0).decode("ascii", errors="replace"))
        text = " " * width + text[width:]
    return text


_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def _reject_private_use(text: str, declared: str | None) -> None:
    """CP932 maps stray bytes (0xA0, 0xFD-0xFF) and 外字 (user-defined characters) to private use."""
    found = _PRIVATE_USE.search(text)
    if found is None:
        return
    offset = len(text[: found.start()].encode("cp932"))
    raw = found.group(0).encode("cp932").hex(" ")
    raise MessageError(
        "encoding_invalid",
        f"{declared} として使えないバイト {raw}（外字または不正なバイト）がオフセット {offset} にあります。"
        f" / Bytes {raw} at offset {offset} are a user-defined (外字) or invalid {declared} character.",
    )


def _parse(data: bytes, max_bytes: int) -> EtElement:
    text = _decode_bytes(data, max_bytes, "xml_too_large")
    try:
        root = defused_et.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise MessageError(
            "xml_forbidden_construct",
            "DTD（<!DOCTYPE>）は使用できません。削除してください。"
            " / A DTD (<!DOCTYPE>) is not allowed; remove it.",
        ) from None
    except EntitiesForbidden as exc:
        raise MessageError(
            "xml_forbidden_construct",
            f"実体宣言「{exc.name}」は使用できません。 / Entity declarations are not allowed ({exc.name}).",
        ) from None
    except ExternalReferenceForbidden as exc:
        raise MessageError(
            "xml_forbidden_construct",
            f"外部参照「{exc.sysid}」は使用できません。 / External references are not allowed ({exc.sysid}).",
        ) from None
    except DefusedXmlException as exc:
        raise MessageError("xml_forbidden_construct", f"{exc}") from None
    except ParseError as exc:
        line, column = exc.position
        reason = re.sub(r": line \d+, column \d+$", "", str(exc))
        raise MessageError(
            "xml_malformed",
            f"XMLとして解析できません（{line}行 {column}桁）: {reason}。"
            f" / Not well-formed XML at line {line}, column {column}: {reason}.",
        ) from None
    return root


# --- tree -> model ---------------------------------------------------------------------------


class _Shape:
    """What one model field expects: a nested model, a code, or plain text; repeated or not."""

    def __init__(self, annotation: Any) -> None:
        self.optional = False
        self.repeated = False
        inner = annotation
        if get_origin(inner) in (Union, types.UnionType):
            args = [a for a in get_args(inner) if a is not type(None)]
            self.optional = len(args) < len(get_args(inner))
            inner = args[0]
        if get_origin(inner) is list:
            self.repeated = True
            inner = get_args(inner)[0]
        self.type: Any = inner

    @property
    def model(self) -> type[BaseModel] | None:
        return self.type if isinstance(self.type, type) and issubclass(self.type, BaseModel) else None

    @property
    def code(self) -> type[Code] | None:
        return self.type if isinstance(self.type, type) and issubclass(self.type, Code) else None


@cache
def _shapes(model: type[BaseModel]) -> dict[str, _Shape]:
    return {name: _Shape(field.annotation) for name, field in model.model_fields.items()}


def allowed_codes(code_type: type[Code]) -> str:
    return ", ".join(f"{m.value}={m.ja}" for m in code_type)


def _code_error(path: str, value: Any, code_type: type[Code]) -> MessageError:
    return MessageError(
        "schema_invalid",
        f"{path} の値「{shown(value)}」は {code_type.__name__} のコードではありません（有効な値: "
        f"{allowed_codes(code_type)}）。 / {path}: '{shown(value)}' is not a {code_type.__name__} code;"
        " allowed: "
        + ", ".join(f"{m.value}={m.en}" for m in code_type)
        + ".",
        path=path,
    )


def _leaf_text(element: EtElement) -> str:
    return (element.text or "").strip(XML_WHITESPACE)


def _is_empty(element: EtElement) -> bool:
    return len(element) == 0 and not _leaf_text(element)


@dataclass(frozen=True)
class ReadNote:
    """Something a reader passed over without refusing the message (an element it does not know)."""

    path: str
    ja: str
    en: str

    def describe(self) -> dict[str, str]:
        return {"code": "element_ignored", "path": self.path, "ja": self.ja, "en": self.en}


def _unknown_element(path: str, name: str, expected: str) -> ReadNote:
    return ReadNote(
        path=f"{path}/{name}",
        ja=f"{path} の未知の要素「{name}」は読み飛ばしました（この場所の要素: {expected}）。",
        en=f"Unknown element {name!r} in {path} was skipped (known here: {expected}).",
    )


def _tree_to_data(
    element: EtElement, model: type[BaseModel], path: str, notes: list[ReadNote]
) -> dict[str, Any]:
    shapes = _shapes(model)
    for attribute in element.attrib:
        if not attribute.startswith(XSI_NAMESPACE):
            raise MessageError(
                "schema_invalid",
                f"{path} に属性「{attribute}」は使用できません。"
                f" / {path}: attribute {attribute!r} is not allowed.",
                path=path,
            )
    if _leaf_text(element):
        raise MessageError(
            "schema_invalid",
            f"{path} は子要素だけを含む要素です（文字列「{shown(_leaf_text(element), 40)}」は不可）。"
            f" / {path} holds child elements only, not text '{shown(_leaf_text(element), 40)}'.",
            path=path,
        )
    data: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for child in element:
        name = child.tag
        if not isinstance(name, str):  # a comment or processing instruction
            continue
        shape = shapes.get(name)
        if shape is None:
            notes.append(_unknown_element(path, name, ", ".join(shapes)))
            continue
        counts[name] = counts.get(name, 0) + 1
        child_path = f"{path}/{name}" + (f"[{counts[name]}]" if shape.repeated else "")
        if counts[name] > 1 and not shape.repeated:
            raise MessageError(
                "schema_invalid",
                f"要素 {child_path} が複数回あります（1回まで）。"
                f" / Element {child_path} appears more than once.",
                path=child_path,
            )
        value = _child_value(child, shape, child_path, notes)
        if value is None:
            continue
        if shape.repeated:
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    return data


def _child_value(child: EtElement, shape: _Shape, path: str, notes: list[ReadNote]) -> Any:
    sub_model = shape.model
    if sub_model is not None:
        if shape.optional and _is_empty(child):
            return None
        return _tree_to_data(child, sub_model, path, notes)
    if len(child):
        raise MessageError(
            "schema_invalid",
            f"{path} は文字列の要素です（子要素「{child[0].tag}」は不可）。"
            f" / {path} holds text only, not child element {child[0].tag!r}.",
            path=path,
        )
    if child.attrib:
        raise MessageError(
            "schema_invalid",
            f"{path} に属性は使用できません。 / {path}: attributes are not allowed.",
            path=path,
        )
    text = _leaf_text(child)
    if not text:
        return None  # a required field then fails as "missing"
    code_type = shape.code
    if code_type is not None and text not in {m.value for m in code_type}:
        raise _code_error(path, text, code_type)
    return text


# --- pydantic errors -> MessageError ---------------------------------------------------------


def _resolve(model: type[BaseModel], loc: tuple[int | str, ...], root: str) -> tuple[str, _Shape | None]:
    """Element path for a pydantic error location, and the shape of the field it names."""
    parts = [root] if root else []
    current: type[BaseModel] | None = model
    shape: _Shape | None = None
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item + 1}]"
            continue
        shape = _shapes(current).get(item) if current is not None else None
        parts.append(item)
        current = shape.model if shape else None
    return "/".join(parts), shape


def _translate(exc: ValidationError, model: type[BaseModel], root: str) -> MessageError:
    problems_ja: list[str] = []
    problems_en: list[str] = []
    first_path: str | None = None
    for error in exc.errors():
        path, shape = _resolve(model, tuple(error["loc"]), root)
        first_path = first_path or path
        kind = error["type"]
        value = error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "missing":
            problems_ja.append(f"必須要素 {path} がありません")
            problems_en.append(f"required element {path} is missing")
        elif kind in (CHARACTER_INVALID, "string_unicode"):
            char = ctx.get("char") or next(
                (character_name(c) for c in str(value) if FORBIDDEN_CHARACTER.match(c)), "?")
            return MessageError(
                CHARACTER_INVALID,
                f"{path} に使用できない文字 {char}（制御文字・不正なサロゲートなど）があります。"
                "削除してください。"
                f" / {path} contains {char} (a control character or lone surrogate), which is not allowed;"
                " remove it.",
                path=path,
            )
        elif kind == "string_pattern_mismatch" and _has_wide_digits(value):
            problems_ja.append(f"{path} の値「{shown(value)}」に全角数字があります。"
                               "半角数字（0-9）で入力してください")
            problems_en.append(f"{path}: '{shown(value)}' has full-width digits;"
                               " half-width digits 0-9 are required")
        elif kind == "string_pattern_mismatch":
            pattern = ctx.get("pattern", "")
            problems_ja.append(f"{path} の値「{shown(value)}」の形式が正しくありません（形式: {pattern}）")
            problems_en.append(f"{path}: '{shown(value)}' does not match {pattern}")
        elif kind == "enum" and shape is not None and shape.code is not None:
            return _code_error(path, value, shape.code)
        elif kind == "extra_forbidden":
            problems_ja.append(f"未知の要素 {path} があります")
            problems_en.append(f"unknown element {path}")
        else:
            problems_ja.append(f"{path} の値「{shown(value)}」が正しくありません（{error['msg']}）")
            problems_en.append(f"{path}: '{shown(value)}': {error['msg']}")
    return MessageError(
        "schema_invalid", "、".join(problems_ja) + "。 / " + "; ".join(problems_en) + ".", path=first_path
    )


def _has_wide_digits(value: Any) -> bool:
    """Digits other than 0-9 (全角数字 １２３, or any other script's): the patterns want half-width ones."""
    return isinstance(value, str) and any(c.isdigit() and not c.isascii() for c in value)


def _build(model: type[M], data: Any, root: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, model, root) from None


# --- decode ----------------------------------------------------------------------------------


def decode(
    data: bytes, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES, notes: list[ReadNote] | None = None
) -> M:
    """An ``XmlMsg`` document as ``model``; raises ``MessageError`` for anything unacceptable.

    Elements in any order are read; unknown elements are skipped, each with a ``ReadNote``
    appended to ``notes`` (when given) and a warning in the ``onshi.xml`` log.
    """
    found: list[ReadNote] = []
    message = _decode(data, model, max_bytes, found)
    for note in found:
        log.warning("%s", note.en)
    if notes is not None:
        notes.extend(found)
    return message


def decode_noted(
    data: bytes, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[M, list[ReadNote]]:
    """``decode``, answering the message and what was passed over."""
    notes: list[ReadNote] = []
    return decode(data, model, max_bytes=max_bytes, notes=notes), notes


def _parse_message(data: bytes, max_bytes: int) -> EtElement:
    """The document's root, which must be ``XmlMsg`` (single and bulk messages alike)."""
    root = _parse(data, max_bytes)
    if root.tag != ROOT_ELEMENT:
        raise MessageError(
            "schema_invalid",
            f"ルート要素は {ROOT_ELEMENT} でなければなりません（「{root.tag}」でした）。"
            f" / The root element must be {ROOT_ELEMENT}, not {root.tag!r}.",
            path=str(root.tag),
        )
    return root


def _decode(data: bytes, model: type[M], max_bytes: int, notes: list[ReadNote]) -> M:
    root = _parse_message(data, max_bytes)
    return _build(model, _tree_to_data(root, model, ROOT_ELEMENT, notes), ROOT_ELEMENT)


def decode_json(data: bytes | str, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES) -> M:
    """A JSON message (same element names, no ``XmlMsg`` wrapper) as ``model``.

    Error paths are element paths without the root, e.g. ``MessageBody/QualificationConfirmSearchInfo``.
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise MessageError(
            "json_too_large",
            f"電文が {size:,} バイトあり、上限 {max_bytes:,} バイトを超えています。"
            f" / The message is {size:,} bytes; the limit is {max_bytes:,} bytes.",
        )
    if isinstance(data, bytes):
        try:
            # pydantic's own JSON reader, in one pass: a message it accepts is the one the steps below
            # build; anything it refuses goes through them for the precise error.
            return model.model_validate_json(data)
        except ValidationError:
            pass
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.end]
            raise MessageError(
                "encoding_invalid",
                f"JSONは UTF-8 で送信してください（オフセット {exc.start} のバイト {bad.hex(' ')} が不正）。"
                f" / JSON must be UTF-8; bytes {bad.hex(' ')} at offset {exc.start} are not.",
            ) from None
    else:
        text = data
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MessageError(
            "json_malformed",
            f"JSONとして解析できません（{exc.lineno}行 {exc.colno}桁）: {exc.msg}。"
            f" / Not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
        ) from None
    except RecursionError:
        # The messages are a few levels deep; the parser gives up near 1,000 levels of [ or {.
        raise MessageError(
            "json_malformed",
            "JSONの入れ子（[ や {）が深すぎます。"
            " / The JSON is nested too deeply ([ or { inside each other).",
        ) from None
    if not isinstance(parsed, dict):
        raise MessageError(
            "schema_invalid",
            f"JSONの最上位はオブジェクトでなければなりません（{type(parsed).__name__}でした）。"
            f" / The top level must be a JSON object, not {type(parsed).__name__}.",
        )
    return _build(model, parsed, "")


# --- XSD validation --------------------------------------------------------------------------


@cache
def _schema(message_kind: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / f"{message_kind}.xsd"), parser))


def validate(xml: bytes, message_kind: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Validate an XML document against ``onshi/schema/<message_kind>.xsd``.

    ``message_kind`` is a file stem: OQSsiquc01req, OQSsiquc01res, OQSmuquc01req, OQSmuquc02res.
    The same safety checks as ``decode`` run first.
    """
    if message_kind not in MESSAGE_KINDS:
        raise ValueError(f"unknown message kind {message_kind!r}; expected one of {MESSAGE_KINDS}")
    _parse(xml, max_bytes)  # size, encoding, forbidden constructs, well-formedness
    text = _decode_bytes(xml, max_bytes, "xml_too_large")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    document = etree.fromstring(text.encode("utf-8"), parser)
    schema = _schema(message_kind)
    if schema.validate(document):
        return
    errors = list(schema.error_log)
    first = errors[0]
    path = (first.path or "").lstrip("/") or None
    listed = "; ".join(f"line {e.line}: {e.message}" for e in errors[:5])
    raise MessageError(
        "schema_invalid",
        f"{message_kind} のスキーマに合っていません（{path}）。 / Not valid against {message_kind}.xsd "
        f"at {path}: {listed}",
        path=path,
    )


# --- bulk requests: every query judged alone -------------------------------------------------
#
# A bulk file with one wrong query (an impossible birth date, a 3-digit insurer number) is not a
# wrong file: that query becomes one error unit in the answer and the others are checked. The file
# itself is refused only when it cannot be read at all (size, encoding, well-formedness, a
# forbidden construct, a control character anywhere), when its header is wrong, or when its body
# is not a list of QualificationConfirmSearchInfo.

ECHO_LIMIT = 200  # characters of one echoed value (a query's text is echoed as written, up to this)


@dataclass(frozen=True)
class BulkQuery:
    """One query of a bulk request: valid (``info``) or not (``error``), and its echo as written."""

    echo: dict[str, str]
    info: QualificationConfirmSearchInfo | None = None
    error: MessageError | None = None


@dataclass(frozen=True)
class BulkRequestRead:
    header: RequestHeader
    queries: list[BulkQuery]


class _JsonObject(BaseModel):
    model_config = ConfigDict(extra="allow")


_ECHO_FIELDS = tuple(BulkQueryEcho.model_fields)
_QUERY = "QualificationConfirmSearchInfo"


def _echo_text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip(XML_WHITESPACE)
    return text[:ECHO_LIMIT] or None


def _echo(source: dict[str, Any], path: str) -> dict[str, str]:
    """A query's leaf texts as written (cut at ``ECHO_LIMIT``); a control character refuses the file."""
    echo = {name: text for name in _ECHO_FIELDS if (text := _echo_text(source.get(name))) is not None}
    for name, text in echo.items():
        if (found := FORBIDDEN_CHARACTER.search(text)) is not None:
            char = character_name(found.group(0))
            raise MessageError(
                CHARACTER_INVALID,
                f"{path}/{name} に使用できない文字 {char}（制御文字など）があります。削除してください。"
                f" / {path}/{name} contains {char} (a control character), which is not allowed; remove it.",
                path=f"{path}/{name}",
            )
    return echo


def _bulk_query(data: Any, source: dict[str, Any], path: str) -> BulkQuery:
    echo = _echo(source, path)
    try:
        if not isinstance(data, dict):
            raise MessageError("schema_invalid", f"{path} は要素の集まりでなければなりません。"
                               f" / {path} must be an object of elements.", path=path)
        info = _build(QualificationConfirmSearchInfo, data, path)
    except MessageError as exc:
        if exc.code == CHARACTER_INVALID:
            raise
        return BulkQuery(echo=echo, error=exc)
    return BulkQuery(echo=echo, info=info)


def _no_queries(path: str) -> MessageError:
    return MessageError(
        "schema_invalid",
        f"{path} に照会（{_QUERY}）が1件もありません。 / {path} holds no {_QUERY}.",
        path=path,
    )


def _bulk_from_xml(data: bytes, max_bytes: int) -> BulkRequestRead:
    root = _parse_message(data, max_bytes)
    header: RequestHeader | None = None
    queries: list[BulkQuery] | None = None
    notes: list[ReadNote] = []
    for part in root:
        path = f"{ROOT_ELEMENT}/{part.tag}"
        if part.tag == "MessageHeader" and header is None:
            header = _build(RequestHeader, _tree_to_data(part, RequestHeader, path, notes), path)
        elif part.tag == "MessageBody" and queries is None:
            queries = []
            for index, element in enumerate(part, start=1):
                query_path = f"{path}/{element.tag}[{index}]"
                if element.tag != _QUERY:
                    # read like real programs: an element we do not know is passed over, with a note
                    notes.append(_unknown_element(path, str(element.tag), _QUERY))
                    continue
                leaves = {child.tag: child.text for child in element
                          if isinstance(child.tag, str) and not len(child)}
                try:
                    query_data: Any = _tree_to_data(
                        element, QualificationConfirmSearchInfo, query_path, notes)
                except MessageError as exc:
                    if exc.code == CHARACTER_INVALID:
                        raise
                    queries.append(BulkQuery(echo=_echo(leaves, query_path), error=exc))
                    continue
                queries.append(_bulk_query(query_data, leaves, query_path))
        else:
            raise MessageError(
                "schema_invalid",
                f"{ROOT_ELEMENT} の要素「{part.tag}」は使用できないか、2回目です"
                "（MessageHeader と MessageBody を1回ずつ）。"
                f" / {ROOT_ELEMENT}: element {part.tag!r} is unknown or repeated"
                " (one MessageHeader, one MessageBody).",
                path=path,
            )
    if header is None:
        raise MessageError("schema_invalid", f"必須要素 {ROOT_ELEMENT}/MessageHeader がありません。"
                           f" / required element {ROOT_ELEMENT}/MessageHeader is missing.")
    if not queries:
        raise _no_queries(f"{ROOT_ELEMENT}/MessageBody")
    for note in notes:
        log.warning("%s", note.en)
    return BulkRequestRead(header, queries)


def _bulk_from_json(data: bytes | str, max_bytes: int) -> BulkRequestRead:
    parsed = decode_json(data, _JsonObject, max_bytes=max_bytes).model_extra or {}
    unknown = set(parsed) - {"MessageHeader", "MessageBody"}
    if unknown:
        name = sorted(unknown)[0]
        raise MessageError("schema_invalid", f"未知の要素 {name} があります。 / unknown element {name}.",
                           path=name)
    header = _build(RequestHeader, parsed.get("MessageHeader"), "MessageHeader")
    body = parsed.get("MessageBody")
    items = body.get(_QUERY) if isinstance(body, dict) else None
    if isinstance(body, dict) and set(body) - {_QUERY}:
        name = sorted(set(body) - {_QUERY})[0]
        raise MessageError("schema_invalid", f"未知の要素 MessageBody/{name} があります。"
                           f" / unknown element MessageBody/{name}.", path=f"MessageBody/{name}")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise _no_queries("MessageBody")
    queries = []
    for index, item in enumerate(items, start=1):
        path = f"MessageBody/{_QUERY}[{index}]"
        queries.append(_bulk_query(item, item if isinstance(item, dict) else {}, path))
    return BulkRequestRead(header, queries)


def decode_bulk_request(
    data: bytes | str, *, xml: bool, max_bytes: int = DEFAULT_MAX_BYTES
) -> BulkRequestRead:
    """An OQSmuquc01req (XML, or the same structure as JSON) with every query judged alone.

    Raises ``MessageError`` only for a file that is wrong as a whole (see above)."""
    if xml:
        return _bulk_from_xml(data.encode("utf-8") if isinstance(data, str) else data, max_bytes)
    return _bulk_from_json(data, max_bytes)

"""The OpenAPI document, made sound for client generators and given copy-paste examples.

FastAPI's own document is close but not self-contained: request bodies declared with
``openapi_extra`` carry a pydantic schema whose ``$ref``s point at ``#/$defs/...``, a section an
OpenAPI document does not have, so generators (openapi-typescript, openapi-python-client) stop.
``sound_document`` moves every such ``$defs`` into ``components/schemas`` (renaming on a clash),
names inline request-body models as components, answers the documented 422 as what the server
really sends (400 problem+json), and adds an example to every operation: each request body in each
content type (JSON, and XML where the operation takes XML) and each parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from onshi import defaults, xmlcodec
from onshi.codes import CharacterCodeIdentifier
from onshi.messages import BulkCheckRequestMessage, BulkDownloadRequestMessage, NumberCheckRequestMessage

REF_PREFIX = "#/components/schemas/"
PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "application/problem+json: what was wrong, in Japanese and English",
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine-readable code, e.g. request_invalid"},
        "title": {"type": "string", "description": "English"},
        "title_ja": {"type": "string", "description": "日本語"},
        "detail": {"type": "string", "description": "which field or value, and what to do"},
    },
    "required": ["status", "code", "title", "title_ja"],
}


# --- request examples -----------------------------------------------------------------------

FIXTURE_DAY = "20261124"  # the fixture personas' simulated day (fixtures/personas.yaml)
HEALTHY_EMPLOYEE = {"InsurerNumber": "06139012", "InsuredCardSymbol": "5201",
                    "InsuredIdentificationNumber": "1024", "InsuredBranchNumber": "00",
                    "Birthdate": "19850512"}
HEALTHY_DEPENDENT = {**HEALTHY_EMPLOYEE, "InsuredBranchNumber": "01", "Birthdate": "20120820"}


def _header(identifier: str, single: bool) -> dict[str, Any]:
    return {"QualificationConfirmationDate": FIXTURE_DAY, "MedicalInstitutionCode": defaults.CLINIC_CODE,
            "ArbitraryFileIdentifier": identifier, **({"ReferenceClassification": "2"} if single else {}),
            "CharacterCodeIdentifier": CharacterCodeIdentifier.UTF8.value}


def _message_examples(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """The same request as JSON and as the real XML (built by the message model, so always current)."""
    message = model.model_validate(data)
    return {
        "application/json": message.model_dump(mode="json", exclude_none=True),
        "application/xml": xmlcodec.encode(message, CharacterCodeIdentifier.UTF8).decode("utf-8"),
    }


def number_check_examples() -> dict[str, Any]:
    return _message_examples(NumberCheckRequestMessage, {
        "MessageHeader": _header("example-healthy-employee", single=True),
        "MessageBody": {"QualificationConfirmSearchInfo": HEALTHY_EMPLOYEE}})


def bulk_check_examples() -> dict[str, Any]:
    return _message_examples(BulkCheckRequestMessage, {
        "MessageHeader": _header("example-bulk", single=False),
        "MessageBody": {"QualificationConfirmSearchInfo": [
            {**HEALTHY_EMPLOYEE, "ArbitraryIdentifier": "P0001"},
            {**HEALTHY_DEPENDENT, "ArbitraryIdentifier": "P0002"}]}})


def bulk_download_examples() -> dict[str, Any]:
    return _message_examples(BulkDownloadRequestMessage, {
        "MessageHeader": {"MedicalInstitutionCode": defaults.CLINIC_CODE},
        "MessageBody": {"ReceptionNumber": "0000000001"}})


def _json(value: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"application/json": value}


# (method, path) -> the request body per content type. Operations whose body model carries
# ``examples`` in its JSON schema (ClockChange, NewCard, FaultChange …) need no entry here.
REQUEST_EXAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("post", "/api/v1/number-checks"): number_check_examples,
    ("post", "/api/v1/bulk-checks"): bulk_check_examples,
    ("post", "/api/v1/bulk-checks/receptions"): bulk_check_examples,
    ("post", "/api/v1/bulk-checks/results"): bulk_download_examples,
    ("post", "/api/v1/card-checks/challenge"): _json({"reader_id": "R-0123456789"}),
    ("post", "/api/v1/card-checks"): _json({
        "reader_id": "R-0123456789", "nonce": "bm9uY2UtZnJvbS10aGUtY2hhbGxlbmdl",
        "certificate_pem": "-----BEGIN CERTIFICATE-----\nMIIB…(the card's certificate)\n"
                           "-----END CERTIFICATE-----\n",
        "method": "pin", "card_signature": "(base64 RSA signature of the nonce by the card key)",
        "consents": {"medication": True, "clinical": True, "operation": True, "checkup": True,
                     "limit_bracket": True, "prescription": "1"},
        "arbitrary_file_identifier": "reception-0001", "encoding": "utf-8"}),
    ("post", "/api/v1/admin/fixtures/load"): lambda: {
        "application/json": {"name": "personas"},
        "application/yaml": "clock: 2026-11-24T09:00:00+09:00\npersonas: []\n"},
    ("post", "/api/v1/admin/events"): _json(
        {"kind": "set_copay", "qualification_id": "q-sato-hanako", "copay_ratio": 20, "lag_days": 3}),
    ("post", "/api/v1/admin/readers"): _json(
        {"clinic_code": defaults.CLINIC_CODE, "reader_id": "R-front-desk"}),
}

# Parameters by name: a value that works against the fixture personas.
PARAMETER_EXAMPLES: dict[str, Any] = {
    "person_id": "healthy-employee",
    "phone_id": "healthy-employee.android",
    "check_id": "(check_id from a card check answer)",
    "kind": "medication",
    "rule_id": "morning-outage",
    "format": "xml",
    "encoding": "shift_jis",
    "limit": 50,
    "X-Medical-Institution-Code": defaults.CLINIC_CODE,
    "x-medical-institution-code": defaults.CLINIC_CODE,
    "Authorization": f"Bearer {defaults.CLINIC_TOKEN}",
    "authorization": f"Bearer {defaults.CLINIC_TOKEN}",
}


# --- making the document sound --------------------------------------------------------------


def _rewrite_refs(node: Any, mapping: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            node["$ref"] = REF_PREFIX + mapping.get(name, name)
        for value in node.values():
            _rewrite_refs(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, mapping)


def _register(components: dict[str, Any], name: str, schema: dict[str, Any]) -> str:
    """``schema`` under ``name`` in components (or ``name2``, ``name3`` … if another one holds it)."""
    candidate, n = name, 1
    while candidate in components and components[candidate] != schema:
        n += 1
        candidate = f"{name}{n}"
    components[candidate] = schema
    return candidate


def _hoist(node: Any, components: dict[str, Any]) -> None:
    """Moves every ``$defs`` below ``node`` into ``components``, rewriting its ``$ref``s."""
    if isinstance(node, list):
        for value in node:
            _hoist(value, components)
        return
    if not isinstance(node, dict):
        return
    defs = node.pop("$defs", None)
    if isinstance(defs, dict):
        # Rewrite first (the defs refer to each other by their local names), then register.
        mapping = {}
        for schema in defs.values():
            _hoist(schema, components)
        provisional = {name: schema for name, schema in defs.items()}
        _rewrite_refs(provisional, {})
        for name, schema in provisional.items():
            mapping[name] = _register(components, name, schema)
        if any(mapping[name] != name for name in mapping):  # a clash: point at the renamed ones
            renamed = {REF_PREFIX + name: REF_PREFIX + new for name, new in mapping.items()}
            for name in mapping.values():
                _retarget(components[name], renamed)
        _rewrite_refs(node, mapping)
    for value in node.values():
        _hoist(value, components)


def _retarget(node: Any, renamed: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"] in renamed:
            node["$ref"] = renamed[node["$ref"]]
        for value in node.values():
            _retarget(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _retarget(value, renamed)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return [(method, path, operation) for path, item in document.get("paths", {}).items()
            for method, operation in item.items() if method in methods]


def _schema_examples(schema: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    ref = schema.get("$ref", "")
    target = components.get(ref[len(REF_PREFIX):], {}) if ref.startswith(REF_PREFIX) else schema
    examples = target.get("examples")
    return list(examples) if isinstance(examples, list) else []


def sound_document(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of FastAPI's ``document`` that resolves in full, with examples (see the module doc)."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _hoist(document, components)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = PROBLEM_SCHEMA
    for method, path, operation in _operations(document):
        body = operation.get("requestBody")
        if isinstance(body, dict):
            for media in body.get("content", {}).values():
                schema = media.get("schema", {})
                title = schema.get("title")
                if "$ref" not in schema and schema.get("type") == "object" and isinstance(title, str):
                    name = _register(components, title.replace(" ", ""), schema)
                    media["schema"] = {"$ref": REF_PREFIX + name}
            make = REQUEST_EXAMPLES.get((method, path))
            given = make() if make else {}
            for content_type, media in body.get("content", {}).items():
                if content_type in given:
                    media["example"] = given[content_type]
                elif "example" not in media and "examples" not in media:
                    found = _schema_examples(media.get("schema", {}), components)
                    if found:
                        media["examples"] = {f"example{i}": {"value": value}
                                             for i, value in enumerate(found, 1)}
        for parameter in operation.get("parameters", []):
            if "example" not in parameter and "examples" not in parameter:
                declared = parameter.get("schema", {}).get("examples") or [None]
                value = PARAMETER_EXAMPLES.get(parameter.get("name", ""), declared[0])
                if value is not None:
                    parameter["example"] = value
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)
        responses.setdefault("400", {
            "description": "不正なリクエスト / bad request (problem+json naming the field)",
            "content": {"application/problem+json": {"schema": {"$ref": REF_PREFIX + "Problem"}}}})
    return document

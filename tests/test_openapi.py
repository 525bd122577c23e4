"""The OpenAPI document at /openapi.json is sound: client generators take it, every operation has examples.

The generators are real, installed project-local by `scripts/bootstrap.sh --browser` (what `make test`
runs): openapi-typescript from npm and openapi-python-client from PyPI (in a venv of its own).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from onshi import xmlcodec
from onshi.messages import BulkCheckRequestMessage, NumberCheckRequestMessage
from onshi.procs import ROOT
from tests.conftest import LiveServer

TOOLS = ROOT / ".cache" / "tools"
OPENAPI_TYPESCRIPT = TOOLS / "npm" / "node_modules" / ".bin" / "openapi-typescript"
PYTHON_CLIENT_VENV = TOOLS / "python-client"
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def document(live_server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{live_server.url}/openapi.json", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/bootstrap.sh --browser (make test does)")
    return path


def test_every_ref_resolves_inside_the_document(document: dict[str, Any]) -> None:
    found = refs(document)
    assert found, "the document uses no $ref at all?"
    assert not [ref for ref in found if not ref.startswith("#/components/schemas/")]
    for ref in set(found):
        resolve(document, ref)
    assert "$defs" not in json.dumps(document)


def test_operation_ids_are_unique_and_readable(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert "number_check" in ids and "get_card" in ids


def test_every_request_body_and_parameter_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(document):
        for content_type, media in op.get("requestBody", {}).get("content", {}).items():
            if "example" not in media and "examples" not in media:
                missing.append(f"{method.upper()} {path} {content_type}")
        for parameter in op.get("parameters", []):
            if "example" not in parameter and "examples" not in parameter:
                missing.append(f"{method.upper()} {path} parameter {parameter['name']}")
    assert not missing, missing


def test_the_message_examples_are_real_messages(document: dict[str, Any]) -> None:
    """The JSON and the XML example of the number and bulk checks parse as the messages they claim."""
    for path, model in (("/api/v1/number-checks", NumberCheckRequestMessage),
                        ("/api/v1/bulk-checks", BulkCheckRequestMessage)):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        from_json = model.model_validate(content["application/json"]["example"])
        from_xml = xmlcodec.decode(content["application/xml"]["example"].encode("utf-8"), model)
        assert from_json == from_xml


def test_the_examples_work_against_the_server(live_server: LiveServer, document: dict[str, Any]) -> None:
    """Copy-paste works: the number-check examples answer a valid qualification, JSON and XML."""
    content = document["paths"]["/api/v1/number-checks"]["post"]["requestBody"]["content"]
    url = f"{live_server.url}/api/v1/number-checks"
    as_json = httpx.post(url, json=content["application/json"]["example"], headers=live_server.clinic_headers)
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["result"]["MessageBody"]["QualificationValidity"] == "1"
    as_xml = httpx.post(url, content=content["application/xml"]["example"].encode(),
                        headers={**live_server.clinic_headers, "Content-Type": "application/xml"})
    assert as_xml.status_code == 200 and b"<QualificationValidity>1</QualificationValidity>" in as_xml.content


def test_openapi_typescript_generates_a_client(document: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(document), encoding="utf-8")
    run = subprocess.run([str(tool(OPENAPI_TYPESCRIPT)), "openapi.json", "-o", "api.d.ts"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    typescript = (tmp_path / "api.d.ts").read_text(encoding="utf-8")
    assert '"/api/v1/number-checks"' in typescript and "NumberCheckRequestMessage" in typescript
    assert "number_check: {" in typescript  # the operationId


def test_openapi_python_client_generates_a_client_that_talks_to_the_server(
        live_server: LiveServer, document: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "config.json").write_text(json.dumps({"post_hooks": [], "project_name_override": "onshi_api",
                                                      "package_name_override": "onshi_api"}))
    generator = tool(PYTHON_CLIENT_VENV / "bin" / "openapi-python-client")
    run = subprocess.run([str(generator), "generate", "--path", "openapi.json", "--config", "config.json",
                          "--output-path", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "client was not created" not in run.stdout.lower()
    # The only warnings allowed: it generates JSON bodies and skips the XML/YAML alternatives.
    warnings = [line for line in run.stdout.splitlines() if line.startswith("WARNING")]
    reasons = {line for line in run.stdout.splitlines() if line.startswith("Unsupported")}
    allowed = {f"Unsupported content type application/{kind}" for kind in ("xml", "yaml")}
    assert reasons <= allowed, run.stdout
    assert len(warnings) <= 3, run.stdout
    # The generated client, in the generator's own environment (httpx, attrs), asks the live server.
    script = (
        "import sys\n"
        "from onshi_api import AuthenticatedClient\n"
        "from onshi_api.api.admin import get_clock\n"
        "from onshi_api.api.meta import health\n"
        "client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])\n"
        "print(health.sync(client=client).to_dict()['status'])\n"
        "print(get_clock.sync(client=client).now.isoformat())\n"
    )
    used = subprocess.run([str(PYTHON_CLIENT_VENV / "bin" / "python"), "-c", script, live_server.url,
                           live_server.admin_token], cwd=tmp_path / "out", capture_output=True, text=True,
                          timeout=120)
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["ok", "2026-11-24T09:00:00+09:00"]

"""Secrets kept as secrets (issue 14, findings 3–5).

- The server's SQLite file (CA key, card keys) is owner-only, also when an older version left it 0644.
- PINs are stored as the card keeps them (salted scrypt, ``onshi.pins``), never as digits; the card
  material carries that record; a trainer's chosen PIN is answered once, when the card is issued.
- ``onshi serve`` beyond loopback with the public default admin token refuses to start.
- Admin reads of personal data leave an access record, as clinic lookups do.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from onshi import defaults
from onshi.pins import is_pin_record, pin_matches
from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http
from server.storage.database import create_tables, make_engine
from tests.conftest import LiveServer
from tests.server_helpers import access_log, admin


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- finding 3: files and PINs --------------------------------------------------------------------


def test_a_new_database_file_is_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "onshi.db"
    engine = make_engine(f"sqlite:///{db}")
    create_tables(engine)
    with engine.begin() as conn:  # a write: the WAL file exists now
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('probe', '1')"))
    assert mode(db) == 0o600
    assert (tmp_path / "onshi.db-wal").exists() and mode(tmp_path / "onshi.db-wal") == 0o600
    engine.dispose()


def test_a_database_left_world_readable_is_closed_down(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_a_database_with_clear_pins_is_migrated_to_hashes(tmp_path: Path) -> None:
    """A card table made before PINs were hashed: the digits become a record, the clear column goes."""
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE card (person_id VARCHAR(64) PRIMARY KEY, serial VARCHAR(64), "
                     "private_key_pem VARCHAR, variant VARCHAR, pin VARCHAR, photo VARCHAR, issued_on DATE, "
                     "expires_on DATE)")
        conn.execute("INSERT INTO card VALUES ('a', '1', 'k', 'standard', '2468', NULL, '2024-01-01', "
                     "'2034-01-01')")
    create_tables(make_engine(f"sqlite:///{db}"))
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(card)")]
        (record,) = conn.execute("SELECT pin_hash FROM card").fetchone()
    assert "pin" not in columns
    assert pin_matches(json.loads(record), "2468") and not pin_matches(json.loads(record), "1234")
    assert b"2468" not in db.read_bytes()


def test_card_material_carries_the_pin_hash_not_the_pin(live_server: LiveServer) -> None:
    material = admin(live_server, "GET", "/cards/healthy-employee")
    assert "pin" not in material
    assert pin_matches(material["pin_hash"], "1234")  # fixtures/personas.yaml: public demo data
    assert not pin_matches(material["pin_hash"], "0000")
    assert admin(live_server, "GET", "/cards/face-only-card")["pin_hash"] is None


def test_a_trainers_pin_is_answered_once_and_kept_only_as_a_hash(fresh_server: LiveServer) -> None:
    issued = admin(fresh_server, "POST", "/cards", json={"name": "研修 太郎", "birthdate": "1990-04-01",
                                                          "pin": "8642", "photo": "astronaut"})
    assert issued["pin"] == "8642"
    again = admin(fresh_server, "GET", f"/cards/{issued['person']['id']}")
    assert "pin" not in again and pin_matches(again["pin_hash"], "8642")


def test_the_server_never_stores_a_pin_in_clear(tmp_path: Path) -> None:
    """A real server on its own file: after a fixture load and a trainer's card, no PIN digits in the
    card table, and every file the server wrote is owner-only."""
    db = tmp_path / "onshi.db"
    port = free_port()
    token = "secret-admin-token-for-this-test"
    env = {"ONSHI_DATABASE_URL": f"sqlite:///{db}", "ONSHI_ADMIN_TOKEN": token}
    process = start_onshi(["serve", "--port", str(port), "--load-fixtures", "personas"], env=env,
                          log=ROOT / "var" / "test-logs" / f"secrets-{port}.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/health", process=process)
        issued = httpx.post(f"{url}/api/v1/admin/cards", headers={"Authorization": f"Bearer {token}"},
                            json={"name": "研修 花子", "birthdate": "1992-02-02", "pin": "9753",
                                  "photo": "astronaut"}, timeout=60)
        assert issued.status_code == 200, issued.text
        with sqlite3.connect(db) as conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(card)")]
            hashes = [row[0] for row in conn.execute("SELECT pin_hash FROM card")]
        assert "pin" not in columns
        records = [json.loads(h) for h in hashes if h is not None]
        assert records and all(is_pin_record(r) and set(r) == {"salt", "hash", "scrypt"} for r in records)
        # No field holds the digits (a hex hash may contain "9753" by chance: compare whole fields).
        assert not [r for r in records if {"9753", "1234"} & {str(v) for v in r.values()}]
        assert sum(pin_matches(r, "9753") for r in records) == 1  # the trainer's PIN, only as its hash
        written = [p for p in tmp_path.iterdir() if p.name.startswith("onshi.db")]
        assert written and {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    finally:
        stop(process)


# --- finding 4: serving beyond loopback with the default admin token -------------------------------


def serve(host: str, admin_token: str | None, port: int, tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != defaults.ENV_ADMIN_TOKEN}
    env["ONSHI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    if admin_token is not None:
        env[defaults.ENV_ADMIN_TOKEN] = admin_token
    return subprocess.Popen([sys.executable, "-m", "onshi", "serve", "--host", host, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("host, token", [("0.0.0.0", None), ("::", defaults.ADMIN_TOKEN), ("0.0.0.0", "")])
def test_serving_beyond_loopback_with_the_default_admin_token_refuses_to_start(
        host: str, token: str | None, tmp_path: Path) -> None:
    process = serve(host, token, free_port(), tmp_path)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 2
    assert defaults.ENV_ADMIN_TOKEN in err and "管理トークン" in err and "public default" in err


def test_serving_beyond_loopback_with_an_own_token_starts(tmp_path: Path) -> None:
    port = free_port()
    process = serve("0.0.0.0", "a-token-nobody-guesses", port, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", timeout=60)
        assert process.poll() is None
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_loopback_with_the_default_token_still_starts(tmp_path: Path) -> None:
    port = free_port()
    process = serve("127.0.0.1", None, port, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", timeout=60)
    finally:
        process.terminate()
        process.communicate(timeout=30)


# --- finding 5: admin reads leave an access record ------------------------------------------------


def admin_reads(server: LiveServer, person: str) -> list[dict[str, Any]]:
    return [e for e in access_log(server, person) if e["action"] == "admin_read"]


def test_reading_a_cards_material_is_recorded(live_server: LiveServer) -> None:
    before = len(admin_reads(live_server, "healthy-dependent"))
    admin(live_server, "GET", "/cards/healthy-dependent")
    after = admin_reads(live_server, "healthy-dependent")
    assert len(after) == before + 1
    assert after[0]["clinic_code"] == "admin" and after[0]["basis"] == "admin:card"
    assert after[0]["at"] == "2026-11-24T09:00:00+09:00"  # on the simulated clock


@pytest.mark.parametrize("path, basis", [("/cards", "admin:cards"), ("/personas", "admin:personas")])
def test_listing_personal_data_records_one_read_per_person(live_server: LiveServer, path: str,
                                                           basis: str) -> None:
    before = len([e for e in admin_reads(live_server, "healthy-employee") if e["basis"] == basis])
    listed = admin(live_server, "GET", path)
    assert listed
    after = [e for e in admin_reads(live_server, "healthy-employee") if e["basis"] == basis]
    assert len(after) == before + 1

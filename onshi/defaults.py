"""Where the programs find each other, and the demo credentials: one place for every default.

The clinic code and tokens are those of the fixture clinic in ``fixtures/personas.yaml``.
"""

from __future__ import annotations

from onshi.procs import ROOT

SERVER_URL = "http://127.0.0.1:8000"
READER_URL = "http://127.0.0.1:8001"
CONSOLE_URL = "http://127.0.0.1:8002"
GALLERY_URL = "http://127.0.0.1:8003"

# The reader emulator's own files (virtual cards, OQSsiquc01res_face_*.xml) unless told otherwise.
READER_STATE_DIR = ROOT / "var" / "reader"
READER_RESULTS_DIR = READER_STATE_DIR / "results"

ADMIN_TOKEN = "onshi-admin"
CLINIC_CODE = "1312345678"
CLINIC_TOKEN = "demo-clinic-token"
FIXTURE_CLINIC_TOKENS = {CLINIC_CODE: CLINIC_TOKEN, "1342000017": "demo-pharmacy-token"}

# Environment variables every `onshi` command reads for the same setting.
ENV_SERVER_URL = "ONSHI_SERVER_URL"
ENV_READER_URL = "ONSHI_READER_URL"
ENV_CONSOLE_URL = "ONSHI_CONSOLE_URL"
ENV_ADMIN_TOKEN = "ONSHI_ADMIN_TOKEN"
ENV_CLINIC_CODE = "ONSHI_CLINIC_CODE"
ENV_CLINIC_TOKEN = "ONSHI_CLINIC_TOKEN"

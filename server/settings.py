"""Server settings from the environment (ONSHI_*), with demo-friendly defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from onshi import defaults

DEFAULT_DB = Path(__file__).resolve().parent.parent / "var" / "onshi.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: os.environ.get("ONSHI_DATABASE_URL", f"sqlite:///{DEFAULT_DB}")
    )
    database_schema: str | None = field(
        default_factory=lambda: os.environ.get("ONSHI_DATABASE_SCHEMA") or None
    )
    admin_token: str = field(
        default_factory=lambda: os.environ.get(defaults.ENV_ADMIN_TOKEN, defaults.ADMIN_TOKEN)
    )
    nonce_seconds: int = 60
    max_body_bytes: int = 1_048_576
    max_bulk_queries: int = 5_000
    # Bulk check (一括照会): results ready this long after the receipt, on the simulated clock, and kept this
    # long after they are ready (docs/integration.md says why these defaults).
    bulk_ready_seconds: float = field(
        default_factory=lambda: float(os.environ.get("ONSHI_BULK_READY_SECONDS", "600"))
    )
    bulk_retention_seconds: float = field(
        default_factory=lambda: float(os.environ.get("ONSHI_BULK_RETENTION_SECONDS", str(7 * 86_400)))
    )

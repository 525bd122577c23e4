"""What every route needs: the database, the shared state, the CA, and who is calling."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from onshi.codes import CharacterCodeIdentifier
from server.api.problems import ApiProblem, forbidden_admin, unauthorized
from server.fixtures import ca_from_settings, token_hash
from server.jlis import CertificateAuthority
from server.settings import Settings
from server.state import SharedState
from server.storage import tables


class AppContext:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.state = SharedState(engine)
        self._ca: CertificateAuthority | None = None
        self._clinics: dict[str, str] = {}

    def now(self) -> datetime:
        return self.state.clock.now()

    def ca(self, session: Session) -> CertificateAuthority:
        """The mock J-LIS CA; parsed once per process (verification stays cheap)."""
        if self._ca is None:
            self._ca = ca_from_settings(session, self.now())
            session.commit()
        return self._ca

    def clinic_token_hash(self, session: Session, code: str) -> str | None:
        if code not in self._clinics:
            row = session.get(tables.Clinic, code)
            if row is None:
                return None
            self._clinics[code] = row.token_sha256
        return self._clinics[code]

    def forget_cached(self) -> None:
        """After a fixture load: clinics may have changed (the CA is kept)."""
        self._clinics.clear()
        self.state._cache.clear()


def get_context(request: Request) -> AppContext:
    ctx = request.app.state.context
    assert isinstance(ctx, AppContext)
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: Context) -> Iterator[Session]:
    with Session(ctx.engine) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class ClinicIdentity:
    code: str


def bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        return ""
    return authorization[7:].strip()


def clinic_identity(
    ctx: Context,
    session: DbSession,
    x_medical_institution_code: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> ClinicIdentity:
    code = (x_medical_institution_code or "").strip()
    if not code:
        raise unauthorized("send X-Medical-Institution-Code (10 digits) and Authorization: Bearer <token>")
    if not (len(code) == 10 and code.isdigit()):
        raise unauthorized(f"X-Medical-Institution-Code must be 10 digits, got {code!r}")
    expected = ctx.clinic_token_hash(session, code)
    token = bearer(authorization)
    if expected is None:
        raise unauthorized(f"unknown medical institution code {code}")
    if not hmac.compare_digest(expected, token_hash(token)):
        raise unauthorized(f"wrong credential for medical institution {code}")
    return ClinicIdentity(code=code)


Clinic = Annotated[ClinicIdentity, Depends(clinic_identity)]


def require_admin(ctx: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    if not hmac.compare_digest(bearer(authorization), ctx.settings.admin_token):
        raise forbidden_admin()


def encoding_from_query(value: str | None) -> CharacterCodeIdentifier | None:
    if value is None:
        return None
    normalized = value.strip().lower().replace("-", "_")
    if normalized in {"utf_8", "utf8", "0"}:
        return CharacterCodeIdentifier.UTF8
    if normalized in {"shift_jis", "sjis", "cp932", "windows_31j", "1"}:
        return CharacterCodeIdentifier.SHIFT_JIS
    raise ApiProblem(400, "encoding_unknown", "文字コードの指定が正しくありません", "unknown encoding",
                     f"encoding={value!r}: use utf-8 or shift_jis")


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)

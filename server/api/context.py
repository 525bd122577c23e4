"""What every route needs: the database, the shared state, the CA, and who is calling."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier
from onshi.messages import INSTITUTION_CODE_PATTERN
from server.api.problems import ApiProblem, forbidden_admin, unauthorized
from server.core import model as core
from server.fixtures import ca_from_settings, challenge_key_from_settings, token_hash
from server.jlis import CertificateAuthority
from server.settings import Settings
from server.state import SharedState
from server.storage import registry, tables

HEADERS_KEY = "onshi.headers"


def headers_of(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """The request's headers by (lower-case) name, made once per request and kept in its scope: Starlette's
    ``Headers`` scans the raw list at every look-up, and a check makes about ten. A repeated header
    gives its first value, as ``Headers.get`` does."""
    found: dict[str, str] | None = scope.get(HEADERS_KEY)
    if found is None:
        found = scope[HEADERS_KEY] = {name.decode("latin-1"): value.decode("latin-1")
                                      for name, value in reversed(scope["headers"])}
    return found


@dataclass(frozen=True)
class ReaderEntry:
    id: str
    clinic_code: str
    public_key_pem: str


CACHE_GENERATION = "cache_generation"


class LazySession:
    """A ``Session`` made at its first use: the check endpoints need one only when a per-process cache
    misses (making and closing one per request cost ~5 % of a number check)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session: Session | None = None

    def __call__(self) -> Session:
        if self.session is None:
            self.session = Session(self.engine)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


SessionLike = Session | LazySession


def _real(session: SessionLike) -> Session:
    return session() if isinstance(session, LazySession) else session


class AppContext:
    """Per-process state: the CA and caches of the small, rarely changed tables (clinics, insurers,
    readers). ``forget_cached`` clears them in this process; the admin endpoints that change those
    tables also write a new cache generation (shared state), so other server processes drop theirs
    within the shared state's cache time (the same delay as for the clock and the faults)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.state = SharedState(engine)
        self._ca: CertificateAuthority | None = None
        self._challenge_key: bytes | None = None
        self._clinics: dict[str, str] = {}
        self._insurers: dict[str, core.Insurer] | None = None
        self._readers: dict[str, ReaderEntry] = {}
        self._generation: object = None

    def now(self) -> datetime:
        return self.state.clock.now()

    def ca(self, session: SessionLike) -> CertificateAuthority:
        """The mock J-LIS CA; parsed once per process (verification stays cheap)."""
        if self._ca is None:
            real = _real(session)
            self._ca = ca_from_settings(real, self.now())
            real.commit()
        return self._ca

    def challenge_key(self, session: SessionLike) -> bytes:
        """The key of challenge nonces (kept through fixture loads, so read once per process)."""
        if self._challenge_key is None:
            self._challenge_key = challenge_key_from_settings(_real(session))
        return self._challenge_key

    def _check_generation(self) -> None:
        generation = self.state.get(CACHE_GENERATION)
        if generation != self._generation:
            self._clear()
            self._generation = generation

    def clinic_token_hash(self, session: SessionLike, code: str) -> str | None:
        self._check_generation()
        if code not in self._clinics:
            row = _real(session).get(tables.Clinic, code)
            if row is None:
                return None
            self._clinics[code] = row.token_sha256
        return self._clinics[code]

    def insurers(self, session: SessionLike) -> dict[str, core.Insurer]:
        """Every insurer (read once per process, until the next fixture load)."""
        self._check_generation()
        if self._insurers is None:
            self._insurers = registry.insurers(_real(session))
        return self._insurers

    def reader(self, session: SessionLike, reader_id: str) -> ReaderEntry | None:
        """A registered reader; unknown ids are looked up every time (a reader may be registered later)."""
        self._check_generation()
        entry = self._readers.get(reader_id)
        if entry is None:
            row = registry.reader(_real(session), reader_id)
            if row is None:
                return None
            entry = self._readers[reader_id] = ReaderEntry(*row)
        return entry

    def _clear(self) -> None:
        self._clinics.clear()
        self._insurers = None
        self._readers.clear()

    def forget_cached(self) -> None:
        """After a fixture load: clinics and insurers may have changed (the CA is kept)."""
        self._clear()
        self.state._cache.clear()

    def registry_changed(self) -> None:
        """Clinics, insurers or readers changed: drop the caches here and, soon, in other processes."""
        self.forget_cached()
        self.state.put(CACHE_GENERATION, uuid.uuid4().hex)
        self._generation = self.state.get(CACHE_GENERATION)


async def get_context(request: Request) -> AppContext:
    ctx = request.app.state.context
    assert isinstance(ctx, AppContext)
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


async def get_session(ctx: Context) -> AsyncIterator[Session]:
    # async: no thread pool hop (Session() does not connect; close() only returns the connection),
    # and no deadlock when every pool thread waits for a connection that a closing session holds.
    with Session(ctx.engine) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


INSTITUTION_CODE = re.compile(INSTITUTION_CODE_PATTERN)  # str.isdigit() would take full-width digits


@dataclass(frozen=True)
class ClinicIdentity:
    code: str


def bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        return ""
    return authorization[7:].strip()


# The presented token's hash, remembered for the few tokens of the clinics calling this process.
_presented_hash = lru_cache(maxsize=256)(token_hash)


async def clinic_identity(
    ctx: Context,
    session: DbSession,
    x_medical_institution_code: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> ClinicIdentity:
    return identify_clinic(ctx, session, x_medical_institution_code, authorization)


def identify_clinic(ctx: AppContext, session: SessionLike, x_medical_institution_code: str | None,
                    authorization: str | None) -> ClinicIdentity:
    """The calling clinic, from its two headers (the ``Clinic`` dependency, and the check endpoints)."""
    code = (x_medical_institution_code or "").strip()
    if not code:
        raise unauthorized("send X-Medical-Institution-Code (10 digits) and Authorization: Bearer <token>")
    if not INSTITUTION_CODE.fullmatch(code):
        raise unauthorized(f"X-Medical-Institution-Code must be 10 digits, got {code!r}")
    expected = ctx.clinic_token_hash(session, code)
    token = bearer(authorization)
    if expected is None:
        raise unauthorized(f"unknown medical institution code {code}")
    # Bytes, not str: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not hmac.compare_digest(expected.encode(), _presented_hash(token).encode()):
        raise unauthorized(f"wrong credential for medical institution {code}")
    return ClinicIdentity(code=code)


Clinic = Annotated[ClinicIdentity, Depends(clinic_identity)]


async def require_admin(ctx: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    # As for clinics: hashes as bytes (compare_digest refuses non-ASCII str), in constant time.
    presented, expected = token_hash(bearer(authorization)), token_hash(ctx.settings.admin_token)
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise forbidden_admin()


def encoding_from_query(value: str | None) -> CharacterCodeIdentifier | None:
    if value is None:
        return None
    identifier = xmlcodec.character_code(value)
    if identifier is not None:
        return identifier
    raise ApiProblem(400, "encoding_unknown", "文字コードの指定が正しくありません", "unknown encoding",
                     f"encoding={value!r}: use utf-8 or shift_jis")


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)

"""The reader's web app: the touch-screen page and the `/api/reader/...` JSON endpoints.

Contract with the clinic console (docs/architecture.md): `POST /api/reader/checks` starts a check
for a patient, `GET /api/reader/state` shows where it is. The other endpoints are what the
patient and staff do at the counter (place the card, look at the camera, type the PIN …), plus
faults on demand. The smartphone path: ``POST /api/reader/phone`` (the patient picks スマートフォン with
a phone), ``/phone/confirm`` (iPhone: Face ID / Touch ID on the phone), ``/phone/hold`` (held on the
汎用 reader), the Android PIN through ``/pin``; ``/api/reader/settings`` has ``general_reader``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cardreader_emulator import faces
from cardreader_emulator.errors import ReaderError
from cardreader_emulator.machine import InvalidAction
from cardreader_emulator.reader import Faults, Reader

HERE = Path(__file__).resolve().parent


class StartBody(BaseModel):
    patient_ref: str = Field(min_length=1, max_length=64)


class CardBody(BaseModel):
    card_id: str = Field(min_length=1, max_length=64)


class MethodBody(BaseModel):
    method: str


class PinBody(BaseModel):
    pin: str = Field(max_length=16)


class ConsentBody(BaseModel):
    answer: bool | str


class SampleBody(BaseModel):
    spec: str = Field(
        min_length=1, max_length=200,
        description="e.g. holder, holder:mask, man-a, hopper:mask, astronaut+man-a",
    )


class PhoneBody(BaseModel):
    phone_id: str = Field(min_length=1, max_length=80, description="<person_id>.<android|iphone>")


class ConfirmBody(BaseModel):
    ok: StrictBool = Field(description="the holder's Face ID / Touch ID on the phone succeeded")


class HoldBody(BaseModel):
    outcome: Literal["ok", "not_read", "moved_early", "timeout"] = "ok"


class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    general_reader: StrictBool | None = Field(
        default=None, description="a 汎用カードリーダー beside the reader (smartphone マイナ保険証)"
    )


class FaceBody(BaseModel):
    image: str = Field(description="data URL or base64 of a JPEG/PNG frame from the camera")


def _problem(status: int, code: str, ja: str, en: str, detail: str = "") -> JSONResponse:
    return JSONResponse(
        {"status": status, "code": code, "title": en, "title_ja": ja, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def field_problems(errors: Sequence[Any]) -> tuple[str, str, str]:
    """A request that does not fit its model, in words naming the fields: (ja, en, detail)."""
    unknown: list[str] = []
    wrong: list[str] = []
    detail: list[str] = []
    for err in errors:
        name = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        (unknown if err.get("type") == "extra_forbidden" else wrong).append(name)
        detail.append(f"{name}: {err.get('msg')}")
    ja, en = [], []
    if unknown:
        ja.append(f"不明な項目です: {', '.join(unknown)}")
        en.append(f"unknown field: {', '.join(unknown)}")
    if wrong:
        ja.append(f"値が正しくありません: {', '.join(wrong)}")
        en.append(f"invalid value: {', '.join(wrong)}")
    return "。".join(ja), "; ".join(en), "; ".join(detail)


def create_app(reader: Reader, tick_seconds: float = 0.25) -> FastAPI:
    stop = threading.Event()

    def ticker() -> None:  # timeouts run on the reader's clock even when nobody presses anything
        while not stop.wait(tick_seconds):
            with suppress(InvalidAction):
                reader.tick()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=ticker, name="reader-ticker", daemon=True)
        thread.start()
        yield
        stop.set()
        thread.join(timeout=2)

    app = FastAPI(title="onshi-sim 顔認証付きカードリーダー（模擬）", lifespan=lifespan)
    app.state.reader = reader
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(InvalidAction)
    async def invalid_action(request: Request, exc: InvalidAction) -> JSONResponse:
        if not reader.machine.connected:
            e = ReaderError.READER_DISCONNECTED
            return _problem(503, str(e), e.ja, e.en, str(exc))
        if exc.reason is not None:  # the reader can say why (e.g. R302: this card has no PIN)
            return _problem(409, str(exc.reason), exc.reason.ja, exc.reason.en, str(exc))
        return _problem(
            409, "not_now", "現在の画面ではその操作はできません", "not possible on this screen", str(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        ja, en, detail = field_problems(exc.errors())
        return _problem(422, "invalid", f"入力が正しくありません（{ja}）", f"invalid input ({en})", detail)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return _problem(400, "invalid", "入力が正しくありません", "invalid input", str(exc))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(HERE / "templates" / "reader.html", media_type="text/html; charset=utf-8")

    @app.get("/api/reader/state")
    def state() -> dict[str, Any]:
        return reader.snapshot()

    @app.post("/api/reader/checks", status_code=202)
    def start_check(body: StartBody) -> dict[str, Any]:
        return reader.start_check(body.patient_ref)

    @app.get("/api/reader/cards")
    def cards() -> list[dict[str, Any]]:
        reader.tray.sync()  # cards the registry issued since (a reload, a new card) show up here
        return [card.summary() for card in reader.store.all()]

    @app.get("/api/reader/cards/{card_id}/photo")
    def card_photo(card_id: str) -> Response:
        try:
            card = reader.store.get(card_id)
        except KeyError:
            raise HTTPException(404, "no such card") from None
        if card.photo_path is None:
            raise HTTPException(404, "this card has no photo")
        return Response(card.photo_path.read_bytes(), media_type="image/jpeg")

    @app.post("/api/reader/card")
    def place(body: CardBody) -> dict[str, Any]:
        return reader.place_card(body.card_id)

    @app.delete("/api/reader/card")
    def remove() -> dict[str, Any]:
        return reader.remove_card()

    @app.post("/api/reader/method")
    def method(body: MethodBody) -> dict[str, Any]:
        return reader.choose(body.method)

    @app.post("/api/reader/face")
    def face(body: FaceBody) -> dict[str, Any]:
        data = body.image.split(",", 1)[1] if body.image.startswith("data:") else body.image
        try:
            image = faces.decode_image(base64.b64decode(data))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an image: {exc}") from exc
        return reader.present_face(image)

    @app.get("/api/reader/face/samples")
    def face_samples() -> dict[str, list[dict[str, str]]]:
        """The prepared captures in words (the card holder's first): {"holder": [...], "all": [...]}."""
        return reader.samples()

    @app.post("/api/reader/face/sample")
    def face_sample(body: SampleBody) -> dict[str, Any]:
        """Presents a prepared capture (a shipped face, dark, masked …; ``holder`` for the card's
        holder) instead of the camera."""
        try:
            image = reader.capture(body.spec)
        except (KeyError, ValueError, faces.NoFaceInPhoto) as exc:
            raise ValueError(str(exc)) from exc
        return reader.present_face(image)

    @app.get("/api/reader/face/sample/{spec}.jpg")
    def face_sample_image(spec: str) -> Response:
        try:
            return Response(faces.encode_jpeg(reader.capture(spec)), media_type="image/jpeg")
        except (KeyError, ValueError, faces.NoFaceInPhoto):
            raise HTTPException(404, "unknown capture") from None

    @app.post("/api/reader/camera-failure")
    def camera_failure() -> dict[str, Any]:
        return reader.camera_failed()

    @app.post("/api/reader/pin")
    def pin(body: PinBody) -> dict[str, Any]:
        return reader.enter_pin(body.pin)

    @app.post("/api/reader/visual")
    def visual() -> dict[str, Any]:
        return reader.confirm_visual()

    @app.post("/api/reader/consent")
    def consent(body: ConsentBody) -> dict[str, Any]:
        return reader.answer_consent(body.answer)

    @app.post("/api/reader/cancel")
    def cancel() -> dict[str, Any]:
        return reader.cancel()

    @app.get("/api/reader/phones")
    def phones() -> list[dict[str, Any]]:
        reader.tray.sync()
        return [phone.summary() for phone in reader.store.phones()]

    @app.post("/api/reader/phone")
    def phone(body: PhoneBody) -> dict[str, Any]:
        return reader.choose_phone(body.phone_id)

    @app.post("/api/reader/phone/confirm")
    def phone_confirm(body: ConfirmBody) -> dict[str, Any]:
        return reader.confirm_on_phone(body.ok)

    @app.post("/api/reader/phone/hold")
    def phone_hold(body: HoldBody) -> dict[str, Any]:
        return reader.hold_phone(body.outcome)

    @app.get("/api/reader/settings")
    def get_settings() -> dict[str, Any]:
        return {"general_reader": reader.config.general_reader}

    @app.post("/api/reader/settings")
    def set_settings(body: SettingsBody) -> dict[str, Any]:
        if body.general_reader is not None:
            reader.set_general_reader(body.general_reader)
        return {"general_reader": reader.config.general_reader}

    @app.get("/api/reader/faults")
    def get_faults() -> dict[str, Any]:
        return reader.snapshot()["faults"]

    @app.post("/api/reader/faults")
    def set_faults(body: Faults) -> dict[str, Any]:
        """Faults on demand; only the faults named in the body change."""
        return reader.set_faults(**body.model_dump(include=body.model_fields_set))

    @app.get("/api/reader/history")
    def history() -> list[dict[str, Any]]:
        return list(reader.history)

    return app

"""`onshi reader` (the touch-screen page, `run SCRIPT`) and `onshi card` (issue, list, sync, unlock)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from onshi import defaults

DEFAULT_STATE = defaults.READER_STATE_DIR


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--server",
            default=defaults.SERVER_URL,
            show_default=True,
            envvar=defaults.ENV_SERVER_URL,
            help="中央システムのURL / the central system",
        ),
        click.option(
            "--cards-dir",
            type=click.Path(path_type=Path),
            default=DEFAULT_STATE / "cards",
            show_default=True,
            help="仮想カードの置き場 / virtual cards",
        ),
        click.option(
            "--results-dir",
            type=click.Path(path_type=Path),
            default=defaults.READER_RESULTS_DIR,
            show_default=True,
            help="結果ファイルの出力先 / where OQSsiquc01res_face_*.xml go",
        ),
        click.option(
            "--encoding",
            type=click.Choice(["utf-8", "shift_jis"]),
            default="utf-8",
            show_default=True,
            help="結果ファイルの文字コード / result file encoding",
        ),
        click.option(
            "--console-url",
            default=None,
            envvar=defaults.ENV_CONSOLE_URL,
            help="受付コンソールのURL / clinic console to tell (e.g. http://127.0.0.1:8002)",
        ),
        click.option(
            "--clinic-code", default=defaults.CLINIC_CODE, show_default=True, envvar=defaults.ENV_CLINIC_CODE
        ),
        click.option(
            "--clinic-token",
            default=defaults.CLINIC_TOKEN,
            envvar=defaults.ENV_CLINIC_TOKEN,
            help="医療機関のトークン / clinic token",
        ),
        click.option(
            "--admin-token",
            default=defaults.ADMIN_TOKEN,
            envvar=defaults.ENV_ADMIN_TOKEN,
            help="登録・カード取得用 / for reader registration and card material",
        ),
        click.option(
            "--threshold",
            type=float,
            default=0.6,
            show_default=True,
            help="顔照合のしきい値（小さいほど厳しい） / face match threshold (lower is stricter)",
        ),
        click.option("--face-attempts", type=int, default=3, show_default=True),
        click.option(
            "--general-reader/--no-general-reader",
            default=True,
            show_default=True,
            help="汎用カードリーダー（スマートフォンのマイナ保険証用）の有無 / whether the clinic has a "
            "general-purpose card reader for smartphones",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass
class Settings:
    server: str
    cards_dir: Path
    results_dir: Path
    encoding: str
    console_url: str | None
    clinic_code: str
    clinic_token: str
    admin_token: str
    threshold: float
    face_attempts: int
    general_reader: bool = True


def _fail(exc: Exception) -> None:
    from cardreader_emulator.central import CentralError

    if isinstance(exc, CentralError):
        click.echo(f"[{exc.error.value}] {exc.error.ja}\n{exc.error.en}\n{exc.detail}", err=True)
    else:
        click.echo(str(exc), err=True)
    sys.exit(2)


def build_reader(s: Settings) -> Any:
    """Registers the reader (once; the identity is kept beside the cards), syncs the fixture
    cards from the server and returns a ready Reader."""
    from cardreader_emulator.card import CardStore
    from cardreader_emulator.central import Admin, Central, CentralError, ReaderIdentity
    from cardreader_emulator.provision import fetch_fixture_cards, fetch_fixture_phones
    from cardreader_emulator.reader import Reader, ReaderConfig
    from cardreader_emulator.tray import Tray

    identity_path = s.cards_dir.parent / f"reader-{s.clinic_code}.json"
    admin = Admin(s.server, s.admin_token)
    try:
        identity = ReaderIdentity.load(identity_path)
        if identity is None or identity.clinic_code != s.clinic_code:
            identity = admin.register_reader(s.clinic_code)
            identity.save(identity_path)
        fetch_fixture_cards(admin, s.cards_dir)
        fetch_fixture_phones(admin, s.cards_dir)
    except CentralError as exc:
        admin.close()
        _fail(exc)
        raise
    central = Central(s.server, s.clinic_code, s.clinic_token, identity)
    config = ReaderConfig(
        cards_dir=s.cards_dir,
        results_dir=s.results_dir,
        encoding=s.encoding,
        console_url=s.console_url,
        threshold=s.threshold,
        face_attempts=s.face_attempts,
        general_reader=s.general_reader,
    )
    admin.close()
    # the tray asks the registry for each card's current material before a read: a short timeout, so a
    # slow server costs seconds, not the read step's whole time (the card is then used as it is)
    tray_source = Admin(s.server, s.admin_token, timeout=5.0)
    return Reader(config, central, tray=Tray(CardStore(s.cards_dir), tray_source))


def _reregister_if_unknown(reader: Any, s: Settings) -> None:
    """A server with a fresh database no longer knows this reader: register again."""
    from cardreader_emulator.central import Admin, CentralError

    try:
        reader.central.challenge()
    except CentralError as exc:
        if exc.status != 403:
            return
        admin = Admin(s.server, s.admin_token)
        try:
            identity = admin.register_reader(s.clinic_code)
        finally:
            admin.close()
        identity.save(s.cards_dir.parent / f"reader-{s.clinic_code}.json")
        reader.central.identity = identity
        reader.reader_id = identity.reader_id


@click.group(
    invoke_without_command=True,
    help="顔認証付きカードリーダー（模擬）の画面を起動 / serve the reader's touch screen",
)
@_common
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
@click.pass_context
def reader(ctx: click.Context, host: str, port: int, **options: Any) -> None:
    ctx.obj = Settings(**options)
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from cardreader_emulator.app import create_app

    r = build_reader(ctx.obj)
    _reregister_if_unknown(r, ctx.obj)
    click.echo(f"カードリーダー {r.reader_id}: http://{host}:{port}/  (結果ファイル: {ctx.obj.results_dir})")
    uvicorn.run(create_app(r), host=host, port=port, log_level="warning")


def _run_help() -> str:
    from cardreader_emulator.script import SCRIPT_FORMAT

    # \b keeps click from re-wrapping the example
    return ("手順ファイルを実行 / run a scripted check (YAML or JSON steps).\n\n\b\n"
            + SCRIPT_FORMAT.replace("\n\n", "\n\n\b\n"))


@reader.command("run", help=_run_help())
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="結果をJSONで出力 / print the report as JSON")
@click.pass_obj
def run(settings: Settings, script: Path, as_json: bool) -> None:
    from cardreader_emulator.script import ScriptError, load_script, run_steps

    try:
        steps = load_script(script)
    except (ScriptError, ValueError) as exc:  # yaml.YAMLError and JSON errors are ValueErrors or ScriptErrors
        click.echo(f"手順エラー / script error: {exc}", err=True)
        sys.exit(1)
    r = build_reader(settings)
    _reregister_if_unknown(r, settings)
    try:
        report = run_steps(r, steps, echo=(lambda line: None) if as_json else click.echo)
    except ScriptError as exc:
        click.echo(f"手順エラー / script error: {exc}", err=True)
        sys.exit(1)
    final = report.final
    if as_json:
        click.echo(
            json.dumps(
                {
                    "final": final,
                    "result_file": report.result_file,
                    "answer": report.answer,
                    "steps": report.steps,
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    summary = report.summary
    if summary:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
    if final.get("error"):
        click.echo(f"[{final['error']['code']}] {final['error']['ja']} / {final['error']['en']}")
    if report.result_file:
        click.echo(f"結果ファイル / result file: {report.result_file}")


@click.group(help="仮想マイナンバーカード / virtual My Number cards")
@click.option("--server", default=defaults.SERVER_URL, show_default=True, envvar=defaults.ENV_SERVER_URL)
@click.option(
    "--cards-dir", type=click.Path(path_type=Path), default=DEFAULT_STATE / "cards", show_default=True
)
@click.option("--admin-token", default=defaults.ADMIN_TOKEN, envvar=defaults.ENV_ADMIN_TOKEN)
@click.pass_context
def card(ctx: click.Context, server: str, cards_dir: Path, admin_token: str) -> None:
    ctx.obj = {"server": server, "cards_dir": cards_dir, "admin_token": admin_token}


def camera_source(camera: str) -> int | str:
    """``--camera``: a device index ("0") or a video file / stream URL, as cv2.VideoCapture takes."""
    return int(camera) if camera.isdigit() else camera


def _webcam_jpeg(camera: str, frames: int = 10) -> bytes:
    import cv2

    capture = cv2.VideoCapture(camera_source(camera))
    try:
        if not capture.isOpened():
            raise click.ClickException(
                f"カメラを開けません（{camera}）。接続と --camera の指定を確認してください。\n"
                f"Cannot open the camera {camera!r}; check it is connected and the --camera value."
            )
        frame = None
        for _ in range(frames):  # let the exposure settle; a short video file may end sooner
            ok, image = capture.read()
            if not ok:
                break
            frame = image
        if frame is None:
            raise click.ClickException(
                f"カメラ（{camera}）から画像を取得できません。\n"
                f"No frame could be read from the camera {camera!r}."
            )
        ok, buf = cv2.imencode(".jpg", frame)
        return bytes(buf.tobytes())
    finally:
        capture.release()


@card.command(
    "issue",
    help="新しい人のカードを発行（自分の顔で練習）、または --phone で人のカード機能をスマートフォンに搭載 / "
    "issue a card for a new person, or with --phone put a person's card functions on a phone "
    "(e.g. --phone iphone --person healthy-employee)",
)
@click.option("--name", default=None, help="氏名 e.g. 山田 太郎（カード発行時は必須 / required for a card）")
@click.option("--kana", default="", help="カナ氏名 e.g. ヤマダ タロウ")
@click.option("--birthdate", default=None, help="YYYY-MM-DD（カード発行時は必須 / required for a card）")
@click.option("--sex", type=click.Choice(["1", "2", "3"]), default="3", show_default=True)
@click.option("--variant", type=click.Choice(["standard", "face_only", "infant"]), default="standard")
@click.option("--pin", default="1234", show_default=True)
@click.option("--photo", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="顔写真ファイル")
@click.option("--webcam", is_flag=True, help="ウェブカメラで撮影 / take the photo with the webcam")
@click.option(
    "--camera",
    default="0",
    show_default=True,
    help="--webcam のカメラ: 番号または動画ファイル / the camera: a device index or a video file",
)
@click.option("--id", "card_id", default=None, help="カードID（省略時は人ID） / card id")
@click.option(
    "--phone",
    type=click.Choice(["android", "iphone"]),
    default=None,
    help="スマートフォンに搭載（--person の人） / set the person's card functions up on this phone",
)
@click.option("--person", default=None, help="--phone: 人ID e.g. healthy-employee / the person's id")
@click.option(
    "--link-lag-days",
    type=float,
    default=None,
    help="--phone: 紐付けが見えるまでの日数 / days until the phone's link is visible",
)
@click.option(
    "--certificate-not-after",
    default=None,
    help="--phone: スマホ用電子証明書の有効期限 YYYY-MM-DD / the phone certificate's end date",
)
@click.pass_obj
def issue(
    obj: dict[str, Any],
    name: str,
    kana: str,
    birthdate: str,
    sex: str,
    variant: str,
    pin: str,
    photo: Path | None,
    webcam: bool,
    camera: str,
    card_id: str | None,
    phone: str | None,
    person: str | None,
    link_lag_days: float | None,
    certificate_not_after: str | None,
) -> None:
    from cardreader_emulator.central import Admin, CentralError
    from cardreader_emulator.faces import NoFaceInPhoto, SeveralFacesInPhoto
    from cardreader_emulator.provision import issue_card

    if phone is not None:
        _issue_phone(obj, phone, person, link_lag_days, certificate_not_after)
        return
    if person or link_lag_days is not None or certificate_not_after:
        raise click.UsageError("--person / --link-lag-days / --certificate-not-after は --phone と使います"
                               " / they go with --phone")
    if not name or not birthdate:
        raise click.UsageError("--name と --birthdate が必要です / give --name and --birthdate")
    if variant != "infant" and not photo and not webcam:
        raise click.UsageError("--photo FILE か --webcam が必要です / give --photo FILE or --webcam")
    data = photo.read_bytes() if photo else _webcam_jpeg(camera) if webcam else None
    admin = Admin(obj["server"], obj["admin_token"])
    try:
        made = issue_card(
            admin,
            obj["cards_dir"],
            name=name,
            name_kana=kana,
            birthdate=birthdate,
            sex=sex,
            variant=variant,
            pin=pin,
            photo=data,
            card_id=card_id,
        )
    except CentralError as exc:
        _fail(exc)
    except NoFaceInPhoto:
        raise click.ClickException(
            "写真に顔が見つかりません。顔が正面からはっきり写った写真を使ってください。\n"
            "No face in the photo. Use one that shows the face clearly from the front."
        ) from None
    except SeveralFacesInPhoto:
        raise click.ClickException(
            "写真に複数の顔が写っています。カードを持つ本人1人だけの写真を使ってください。\n"
            "Several faces in the photo. Use one that shows only the card holder."
        ) from None
    except ValueError as exc:  # e.g. the file is not an image, a PIN that is not 4 digits
        raise click.ClickException(f"カードを発行できません / cannot issue the card: {exc}") from None
    finally:
        admin.close()
    click.echo(json.dumps(made.summary(), ensure_ascii=False, indent=1))


def _issue_phone(obj: dict[str, Any], platform: str, person: str | None, link_lag_days: float | None,
                 certificate_not_after: str | None) -> None:
    from cardreader_emulator.central import Admin, CentralError
    from cardreader_emulator.provision import issue_phone

    if not person:
        raise click.UsageError("--phone には --person（人ID）が必要です / --phone needs --person PERSON_ID")
    admin = Admin(obj["server"], obj["admin_token"])
    try:
        made = issue_phone(admin, obj["cards_dir"], person_id=person, platform=platform,
                           link_lag_days=link_lag_days, certificate_not_after=certificate_not_after)
    except CentralError as exc:
        if exc.status == 400:  # refused as the real one refuses (the server's reason, ja + en)
            raise click.ClickException(
                f"スマートフォンに搭載できません / cannot set the phone up: {exc.detail}"
            ) from None
        _fail(exc)
        raise
    finally:
        admin.close()
    click.echo(json.dumps(made.summary(), ensure_ascii=False, indent=1))


@card.command("list", help="カードとスマートフォンの一覧 / list the virtual cards and phones")
@click.pass_obj
def list_cards(obj: dict[str, Any]) -> None:
    from cardreader_emulator.card import CardStore

    store = CardStore(obj["cards_dir"])
    for c in store.all():
        s = c.summary()
        lock = " PINロック/locked" if s["pin_locked"] else ""
        click.echo(
            f"{s['card_id']:<32} {s['name']:<12} {s['variant']['code']:<10} PIN {s['pin_remaining']}{lock}"
        )
    for p in store.phones():
        s = p.summary()
        pin = f"PIN {s['pin_remaining']}（カードと共通 / shared）" if p.is_android else "Face ID / Touch ID"
        click.echo(f"{s['phone_id']:<32} {s['name']:<12} {s['platform']:<10} {pin} "
                   f"〜{s['certificate_not_after'] or '?'}")


@card.command("sync", help="フィクスチャのカードを取得 / fetch fixture cards from the server")
@click.option("--fresh", is_flag=True, help="PINの残り回数も作り直す / re-make cards (PIN counters reset)")
@click.pass_obj
def sync(obj: dict[str, Any], fresh: bool) -> None:
    from cardreader_emulator.central import Admin, CentralError
    from cardreader_emulator.provision import fetch_fixture_cards, fetch_fixture_phones

    admin = Admin(obj["server"], obj["admin_token"])
    try:
        made = fetch_fixture_cards(admin, obj["cards_dir"], keep_pin_state=not fresh)
        phones = fetch_fixture_phones(admin, obj["cards_dir"])
    except CentralError as exc:
        _fail(exc)
        raise
    finally:
        admin.close()
    click.echo(f"{len(made)} 枚 / cards in {obj['cards_dir']}")
    if phones:
        click.echo(f"スマートフォン {len(phones)} 台 / {len(phones)} phones")


@card.command("unlock", help="市区町村窓口でのPINロック解除 / PIN reset at the municipal office")
@click.argument("card_id")
@click.option("--pin", default=None, help="新しい暗証番号 / new PIN (default: keep)")
@click.pass_obj
def unlock(obj: dict[str, Any], card_id: str, pin: str | None) -> None:
    from cardreader_emulator.card import CardStore

    c = CardStore(obj["cards_dir"]).get(card_id)
    c.reset_pin(pin)
    click.echo(f"{card_id}: PIN 残り{c.pin_remaining}回 / {c.pin_remaining} tries")

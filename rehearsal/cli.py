"""Sub-commands: `onshi scenario list|run`, `onshi gallery`, `onshi simulate-day`, `onshi calibrate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from onshi import defaults
from rehearsal.scenario import ScenarioError, find, load_all


@click.group(help="研修シナリオ / rehearsal scenarios (F1–F17)")
def scenario() -> None:
    pass


@scenario.command("list", help="シナリオ一覧 / list the scenarios")
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja")
def list_scenarios(lang: str) -> None:
    for item in load_all().values():
        click.echo(f"{item.id:<26} {item.failure_id:<4} {item.title.get(lang)}")


@scenario.command("run", help="シナリオを実行 / run a scenario against a server (exit 0: as expected)")
@click.argument("name")
@click.option("--server", "server_url", envvar=defaults.ENV_SERVER_URL, default=defaults.SERVER_URL,
              show_default=True, help="the onshi-sim server")
@click.option("--admin-token", envvar=defaults.ENV_ADMIN_TOKEN, default=defaults.ADMIN_TOKEN,
              show_default=True)
@click.option("--clinic-token", envvar=defaults.ENV_CLINIC_TOKEN, default=None,
              help="default: the fixture clinic's token")
@click.option("--reader", type=click.Choice(["auto", "off"]), default="auto", show_default=True,
              help="auto: play reader-side steps on the reader emulator (`onshi reader … run SCRIPT`, "
                   "a fresh card tray per run); off: only describe them")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def run(name: str, server_url: str, admin_token: str, clinic_token: str | None, reader: str,
        as_json: bool) -> None:
    from rehearsal.runner import Target, run_scenario

    try:
        item = find(name)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    failure = item.failure
    echo = (lambda line: None) if as_json else click.echo
    echo(f"■ {item.id}  {item.failure_id} {failure.name_ja} / {failure.name_en}")
    echo(f"  {item.title.ja}\n  {item.title.en}")
    echo(f"  患者: {item.brief.ja}")
    echo("")
    result = run_scenario(item, Target(server_url, admin_token, clinic_token), reader=reader, echo=echo)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        echo("")
        echo(f"  窓口に見えるもの: {failure.clinic_sees_ja}")
        echo(f"  what the counter sees: {failure.clinic_sees_en}")
        echo(f"  正しい対応: {failure.response_ja}")
        echo(f"  right response: {failure.response_en}")
        if result.error:
            echo(f"  ✘ {result.error}")
        echo("  → 期待どおり / as expected" if result.ok else "  → 期待と異なる / NOT as expected")
    sys.exit(0 if result.ok else 1)


@click.command("gallery", help="失敗ギャラリー・障害・研修 / failure gallery, faults, rehearsal")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8003, show_default=True)
@click.option("--server", "server_url", envvar=defaults.ENV_SERVER_URL, default=defaults.SERVER_URL,
              show_default=True)
@click.option("--admin-token", envvar=defaults.ENV_ADMIN_TOKEN, default=defaults.ADMIN_TOKEN,
              show_default=True)
@click.option("--console", "console_url", envvar=defaults.ENV_CONSOLE_URL, default=defaults.CONSOLE_URL,
              show_default=True)
@click.option("--reader", "reader_url", envvar=defaults.ENV_READER_URL, default=defaults.READER_URL,
              show_default=True)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="where rehearsal sessions are kept (default var/rehearsal)")
def gallery(host: str, port: int, server_url: str, admin_token: str, console_url: str, reader_url: str,
            data_dir: Path | None) -> None:
    import uvicorn

    from rehearsal.web import GallerySettings, create_app

    settings = GallerySettings(server_url=server_url, admin_token=admin_token, console_url=console_url,
                               reader_url=reader_url, data_dir=data_dir or GallerySettings().data_dir)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@click.command("simulate-day", help="診療所の一日をシミュレーション / simulate a day at the clinic")
@click.option("--patients", "-n", default=1000, show_default=True, help="patients in total")
@click.option("--clinics", "-k", default=1, show_default=True, help="clinics they are spread over")
@click.option("--days", default=1, show_default=True, help="business days")
@click.option("--seed", default=1, show_default=True)
@click.option("--survey", type=click.Choice(["2025", "2024"]), default="2025", show_default=True,
              help="which clinic survey the trouble rates are fitted to (`onshi calibrate`)")
@click.option("--rate", "rates", multiple=True, metavar="CAUSE=P",
              help="override a per-visit rate, e.g. --rate F13=0.01 (repeatable)")
@click.option("--card-share", type=float, default=None, help="share of visits checked by card")
@click.option("--phone-share", type=float, default=None,
              help="of マイナ保険証 visits, the share presenting a smartphone (default: our assumption)")
@click.option("--phone-only-share", type=float, default=None,
              help="of those presenting a phone, the share without the card on them "
                   "(default: our assumption)")
@click.option("--general-reader-share", type=float, default=None,
              help="share of clinics with a 汎用カードリーダー, which reads phones (default: our assumption)")
@click.option("--declaration-known/--declaration-unknown", default=True, show_default=True,
              help="whether the counter uses the 申立書 (the report shows both ways)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("var/simulate-day"),
              show_default=True)
@click.option("--lang", type=click.Choice(["both", "ja", "en"]), default="both", show_default=True,
              help="labels of the plots: Japanese and English, or one")
@click.option("--quiet", is_flag=True, help="no progress bar")
def simulate_day(patients: int, clinics: int, days: int, seed: int, survey: str, rates: tuple[str, ...],
                 card_share: float | None, phone_share: float | None, phone_only_share: float | None,
                 general_reader_share: float | None, declaration_known: bool, out_dir: Path, lang: str,
                 quiet: bool) -> None:
    from rehearsal.simulate import SimConfig, simulate, span, write_report

    overrides: dict[str, float] = {}
    for item in rates:
        key, _, value = item.partition("=")
        try:
            overrides[key.strip().upper()] = float(value)
        except ValueError as exc:
            raise click.BadParameter(f"{item!r}: use CAUSE=P, e.g. F13=0.01") from exc
    try:
        config = SimConfig.from_survey(survey, patients=patients, clinics=clinics, days=days, seed=seed,
                                       overrides=overrides, card_share=card_share,
                                       declaration_known=declaration_known, phone_share=phone_share,
                                       phone_only_share=phone_only_share,
                                       general_reader_share=general_reader_share)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if quiet:
        result = simulate(config)
    else:
        # One step per clinic-day, so one clinic over many days shows progress too. On stderr, so
        # stdout stays the summary; click itself only prints the label when stderr is not a terminal.
        with click.progressbar(length=clinics * days, label="simulating clinic-days", file=sys.stderr,
                               show_pos=True) as bar:
            result = simulate(config, on_day=lambda: bar.update(1))
    paths = write_report(result, out_dir, lang)
    totals = result.totals
    click.echo(f"患者 {totals['patients']:,} 人 / patients; トラブル {totals['affected']:,} 人 / affected; "
               f"職員の損失 {totals['staff_minutes']:,.0f} 分 / staff minutes lost; "
               f"申立書がなければ10割 {totals['would_pay_full']:,} 人 / would pay 100% without the 申立書")
    click.echo(f"スマートフォンで確認・試行 {totals['phone_visits']:,} 人 / checked or tried with a phone; "
               f"汎用カードリーダーのある施設 {totals['clinics_with_general_reader']}/{clinics} "
               "/ clinics with a 汎用 reader")
    national = totals["national"]
    click.echo(f"全国の1か月（{national['monthly_checks'] / 1e6:,.1f} 百万件の確認、"
               f"率は{survey}年調査に当てはめ、"
               "95%区間）/ nationwide, one month (rates fitted to the survey, 95% intervals):")
    for cause, value in national["by_cause"].items():
        click.echo(f"  {cause:<4} {span(value)}")
    for key, name in (("affected", "トラブル計 / affected"),
                      ("would_pay_full", "申立書がなければ10割 / 100% w/o 申立書"),
                      ("charged_full", "実際に10割（推計）/ charged 100% (est.)")):
        value = national[key]
        click.echo(f"  {name}: {span(value)}")
    click.echo(f"report: {paths['markdown']}  {paths['html']}")


@click.command("calibrate",
               help="調査との照合 / fit the trouble rates to a clinic survey and check them against it")
@click.option("--survey", type=click.Choice(["2025", "2024", "2025i"]), default="2025", show_default=True,
              help="2025 (since Aug 2025), 2024 (answered Aug–Sep 2024), 2025i (interim, since Dec 2024)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("var/calibrate"),
              show_default=True)
@click.option("--replicates", default=200, show_default=True, help="simulated surveys for the model's range")
@click.option("--seed", default=1, show_default=True)
@click.option("--lang", type=click.Choice(["both", "ja", "en"]), default="both", show_default=True)
def calibrate(survey: str, out_dir: Path, replicates: int, seed: int, lang: str) -> None:
    from rehearsal.calibrate import calibration, calibration_table, mismatches, write_calibration

    if replicates < 10:
        raise click.BadParameter("at least 10 replicates / 10回以上", param_hint="--replicates")
    result = calibration(survey, replicates=replicates, seed=seed)
    paths = write_calibration(result, out_dir, lang)
    click.echo(f"{result['label_ja']} / {result['label_en']}  "
               "基数：全回答施設 / base: all responding clinics")
    click.echo(calibration_table(result).rstrip())
    pay = result["full_payment"]
    click.echo(f"申立書を使わない窓口 / counters not using the 申立書: {pay['q_from_cases_2025']:.1%} "
               f"({pay['q_low']:.1%}–{pay['q_high']:.1%}) from ~3,400 cases; "
               f"{pay['q_from_clinics_2025_interim']:.1%} from 12.3% of interim clinics")
    problems = mismatches(result)
    for line in problems:
        click.echo(f"✗ {line}")
    if not problems:
        click.echo("✓ すべて許容差内 / every figure within tolerance (kinds ±3 points, any ±5 points)")
    click.echo(f"report: {paths['html']}  {paths['json']}")

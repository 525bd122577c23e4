"""Large synthetic populations for benchmarks: `onshi fixtures generate N`, `onshi bench`.

:func:`generate_population` adds ``persons`` people to the registry on top of whatever is there
(the fixture personas stay). It is deterministic for a seed: the same seed gives the same people,
numbers, qualifications, troubles and certificate serials (only the card key pairs differ).

What a population holds:

- households: 社保 (本人 + dependents sharing 記号・番号 with their own 枝番), 国保 (a household
  number, one 枝番 per member), 後期高齢 (75 and over, one number each); ages from newborns to
  over 100; 70–74 get a 高齢受給者 block, preschool children a 20% co-pay;
- a few insurers of every kind (created when missing);
- a small share of troubles so a bench hits varied paths: lost qualifications (visible), a job
  change whose new insurer has not registered yet (input lag, F1), and the no-provide flag;
- ``cards`` people get a My Number card: a certificate from the real mock CA (its own serial,
  registered in the serial index) and a card row the admin API serves as card material.

Card keys: an RSA-2048 key pair takes ~50 ms to generate, so a pool of :data:`KEY_POOL` keys is
made once and the card certificates reuse them (each certificate is distinct, with its own serial
and validity). Several cards sharing a key pair is unrealistic but harmless for a benchmark
population: the server identifies a card by its certificate serial, never by its key.

Rows are written with SQLAlchemy Core ``insert()`` in batches (executemany), never as ORM objects.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from onshi.pins import pin_record
from server.clock import EPOCH, SimulatedClock, aware_jst
from server.events import card_expiry, day_start
from server.fixtures import ca_from_settings, half_width_kana, token_hash
from server.jlis import CertificateAuthority, certificate_to_pem, generate_key, private_key_to_pem
from server.storage import tables

BATCH = 10_000
# Every synthetic card has the demo PIN 1234 (public): one salted hash for all (scrypt is slow).
POPULATION_PIN_HASH = json.dumps(pin_record("1234"))
KEY_POOL = 64
BENCH_CLINIC = {"code": "1312345678", "name": "さくら内科クリニック", "token": "demo-clinic-token"}

Progress = Callable[[str], Any]

# --- insurers -------------------------------------------------------------------------------

INSURERS: tuple[tuple[str, str, str], ...] = (
    ("01130012", "全国健康保険協会 東京支部", "shaho"),
    ("01270016", "全国健康保険協会 大阪支部", "shaho"),
    ("06139012", "東京電機健康保険組合", "shaho"),
    ("06271234", "なにわ商事健康保険組合", "shaho"),
    ("06132511", "関東精機健康保険組合", "shaho"),
    ("31130017", "東京都職員共済組合", "shaho"),
    ("00138040", "新宿区国民健康保険", "kokuho"),
    ("00138123", "世田谷区国民健康保険", "kokuho"),
    ("00270017", "大阪市国民健康保険", "kokuho"),
    ("00230011", "名古屋市国民健康保険", "kokuho"),
    ("39131019", "東京都後期高齢者医療広域連合", "kouki"),
    ("39271016", "大阪府後期高齢者医療広域連合", "kouki"),
)
SHAHO = [n for n, _, k in INSURERS if k == "shaho"]
KOKUHO = [n for n, _, k in INSURERS if k == "kokuho"]
KOUKI = [n for n, _, k in INSURERS if k == "kouki"]

# --- names (kanji, kana) --------------------------------------------------------------------


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``"漢字:カナ 漢字:カナ …"`` -> ``((漢字, カナ), …)``."""
    return tuple((kanji, kana) for kanji, kana in (item.split(":") for item in text.split()))


SURNAMES: tuple[tuple[str, str], ...] = _pairs(
    "佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ "
    "山本:ヤマモト 中村:ナカムラ 小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ "
    "佐々木:ササキ 山口:ヤマグチ 松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ "
    "斎藤:サイトウ 清水:シミズ 山崎:ヤマザキ 森:モリ 池田:イケダ 橋本:ハシモト "
    "阿部:アベ 石川:イシカワ 山下:ヤマシタ 中島:ナカジマ 石井:イシイ 小川:オガワ "
    "前田:マエダ 岡田:オカダ 長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ 近藤:コンドウ "
    "村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト 斉藤:サイトウ 福田:フクダ "
    "太田:オオタ 西村:ニシムラ 藤井:フジイ 金子:カネコ 岡本:オカモト 藤原:フジワラ "
    "中野:ナカノ 三浦:ミウラ 原田:ハラダ 中川:ナカガワ 松田:マツダ 竹内:タケウチ "
    "小野:オノ 田村:タムラ 中山:ナカヤマ 和田:ワダ 石田:イシダ 森田:モリタ "
    "上田:ウエダ 原:ハラ 柴田:シバタ 酒井:サカイ 工藤:クドウ 横山:ヨコヤマ "
    "宮崎:ミヤザキ 宮本:ミヤモト 内田:ウチダ 高木:タカギ 安藤:アンドウ 谷口:タニグチ "
    "大野:オオノ 丸山:マルヤマ 今井:イマイ 高田:タカダ 藤本:フジモト 武田:タケダ "
    "村田:ムラタ 上野:ウエノ 杉山:スギヤマ 増田:マスダ 平野:ヒラノ 大塚:オオツカ "
    "千葉:チバ 久保:クボ 松井:マツイ 小島:コジマ 岩崎:イワサキ 桜井:サクライ "
    "野口:ノグチ 松尾:マツオ 野村:ノムラ 木下:キノシタ 菊地:キクチ 佐野:サノ "
    "大西:オオニシ 杉本:スギモト 新井:アライ 浜田:ハマダ 菅原:スガワラ 市川:イチカワ "
    "水野:ミズノ 小松:コマツ 島田:シマダ 古川:フルカワ 小山:コヤマ 高野:タカノ "
    "西田:ニシダ 菊池:キクチ 山内:ヤマウチ 西川:ニシカワ 五十嵐:イガラシ 北村:キタムラ "
    "安田:ヤスダ 中田:ナカタ 川口:カワグチ 平田:ヒラタ 川崎:カワサキ 飯田:イイダ "
    "吉川:ヨシカワ 本田:ホンダ 久保田:クボタ 沢田:サワダ 辻:ツジ 関:セキ "
    "吉村:ヨシムラ 渡部:ワタナベ 岩田:イワタ 中西:ナカニシ 服部:ハットリ 樋口:ヒグチ "
    "福島:フクシマ 川上:カワカミ 永井:ナガイ 松岡:マツオカ 田口:タグチ 山中:ヤマナカ "
    "森本:モリモト 土屋:ツチヤ 矢野:ヤノ 広瀬:ヒロセ 秋山:アキヤマ 石原:イシハラ "
    "松下:マツシタ 大橋:オオハシ 松浦:マツウラ 吉岡:ヨシオカ 小池:コイケ 馬場:ババ "
    "浅野:アサノ 荒木:アラキ 大久保:オオクボ 野田:ノダ 小沢:オザワ 田辺:タナベ "
    "川村:カワムラ 星野:ホシノ 黒田:クロダ 堀:ホリ 尾崎:オザキ 望月:モチヅキ "
    "永田:ナガタ 熊谷:クマガイ 内藤:ナイトウ 松村:マツムラ 西山:ニシヤマ 大谷:オオタニ "
    "平井:ヒライ 大島:オオシマ 岩本:イワモト 片山:カタヤマ 本間:ホンマ 早川:ハヤカワ "
    "横田:ヨコタ 岡崎:オカザキ 荒井:アライ 大石:オオイシ 鎌田:カマタ 成田:ナリタ "
    "宮田:ミヤタ 小田:オダ 石橋:イシバシ 篠原:シノハラ 須藤:スドウ 河野:コウノ "
    "大沢:オオサワ 小西:コニシ 南:ミナミ 高山:タカヤマ 栗原:クリハラ 伊東:イトウ "
    "松原:マツバラ 三宅:ミヤケ 福井:フクイ 大森:オオモリ 奥村:オクムラ 岡:オカ "
    "内山:ウチヤマ 片岡:カタオカ"
)
MALE_NAMES: tuple[tuple[str, str], ...] = _pairs(
    "一郎:イチロウ 二郎:ジロウ 三郎:サブロウ 太郎:タロウ 健太:ケンタ 翔:ショウ "
    "大輔:ダイスケ 拓也:タクヤ 直樹:ナオキ 誠:マコト 学:マナブ 浩:ヒロシ "
    "隆:タカシ 健:ケン 修:オサム 勇:イサム 博:ヒロシ 清:キヨシ "
    "茂:シゲル 稔:ミノル 正:タダシ 明:アキラ 剛:ツヨシ 聡:サトシ "
    "和也:カズヤ 達也:タツヤ 哲也:テツヤ 翔太:ショウタ 大樹:ダイキ 陸:リク "
    "蓮:レン 悠真:ユウマ 陽翔:ハルト 湊:ミナト 蒼:アオイ 樹:イツキ "
    "颯太:ソウタ 大和:ヤマト 悠人:ユウト 海斗:カイト 亮:リョウ 涼:リョウ "
    "駿:シュン 優太:ユウタ 雄一:ユウイチ 裕介:ユウスケ 康弘:ヤスヒロ 秀樹:ヒデキ "
    "俊介:シュンスケ 浩二:コウジ 進:ススム 昭:アキラ 豊:ユタカ 勝:マサル "
    "武:タケシ 弘:ヒロシ 幸一:コウイチ 義男:ヨシオ 正夫:マサオ 一男:カズオ "
    "信夫:ノブオ 春樹:ハルキ 智也:トモヤ 拓海:タクミ"
)
FEMALE_NAMES: tuple[tuple[str, str], ...] = _pairs(
    "花子:ハナコ 陽菜:ヒナ 結衣:ユイ 葵:アオイ 美咲:ミサキ 由美:ユミ "
    "恵子:ケイコ 和子:カズコ 幸子:サチコ 洋子:ヨウコ 京子:キョウコ 智子:トモコ "
    "久美子:クミコ 真由美:マユミ 直美:ナオミ 裕子:ユウコ 明美:アケミ 千代:チヨ "
    "キヨ:キヨ ハル:ハル 愛:アイ 舞:マイ 彩:アヤ 萌:モエ "
    "さくら:サクラ 美穂:ミホ 麻衣:マイ 香織:カオリ 優子:ユウコ 瞳:ヒトミ "
    "恵:メグミ 彩花:アヤカ 凛:リン 芽依:メイ 紬:ツムギ 結菜:ユイナ "
    "莉子:リコ 咲良:サクラ 杏:アン 澪:ミオ 美香:ミカ 由紀:ユキ "
    "奈々:ナナ 千尋:チヒロ 沙織:サオリ 理恵:リエ 絵美:エミ 純子:ジュンコ "
    "節子:セツコ 文子:フミコ 静香:シズカ 紀子:ノリコ 典子:ノリコ 弘子:ヒロコ "
    "悦子:エツコ 春香:ハルカ"
)
PLACES: tuple[tuple[str, str], ...] = (
    ("東京都新宿区西新宿", "1600023"),
    ("東京都世田谷区太子堂", "1540004"),
    ("東京都中野区中央", "1640011"),
    ("東京都杉並区阿佐谷南", "1660004"),
    ("東京都渋谷区宇田川町", "1500042"),
    ("東京都練馬区豊玉北", "1760012"),
    ("大阪府大阪市北区梅田", "5300001"),
    ("大阪府大阪市中央区難波", "5420076"),
    ("愛知県名古屋市中区栄", "4600008"),
    ("神奈川県横浜市西区高島", "2200011"),
    ("埼玉県さいたま市浦和区高砂", "3300063"),
    ("千葉県千葉市中央区本町", "2600012"),
)


@dataclass
class _Rows:
    persons: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    no_provide: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.persons)


def _age(birthdate: date, day: date) -> int:
    return day.year - birthdate.year - ((day.month, day.day) < (birthdate.month, birthdate.day))


def _birthdate(rng: random.Random, today: date, min_age: int, max_age: int) -> date:
    days = rng.randint(min_age * 365 + 1, max_age * 365 + 364)
    return today - timedelta(days=days)


@lru_cache(maxsize=65_536)
def _full_name(surname: tuple[str, str], given: tuple[str, str]) -> tuple[str, str]:
    return f"{surname[0]} {given[0]}", half_width_kana(f"{surname[1]} {given[1]}")


def _name(rng: random.Random, surname: tuple[str, str], sex: str) -> tuple[str, str]:
    return _full_name(surname, rng.choice(MALE_NAMES if sex == "1" else FEMALE_NAMES))


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _qualification(qid: str, person_id: str, insurer: str, symbol: str, number: str, branch: int,
                   personal_family: str, insured_name: str, acquired: date, copay: int, *,
                   preschool: bool = False, elderly: dict[str, Any] | None = None,
                   lost_on: date | None = None) -> dict[str, Any]:
    """The stored JSON of a qualification (same keys as ``serialize.qualification_to_dict``)."""
    return {
        "id": qid, "person_id": person_id, "insurer_number": insurer, "symbol": symbol, "number": number,
        "branch": f"{branch:02d}", "card_classification": "01", "personal_family": personal_family,
        "insured_name": insured_name, "acquired_on": acquired.isoformat(), "copay_ratio": copay,
        "lost_on": _iso(lost_on), "reason_of_loss": "99" if lost_on else None, "preschool": preschool,
        "issued_on": acquired.isoformat(), "valid_from": None, "card_expires_on": None,
        "elderly": elderly, "limit": None, "specific_diseases": [],
    }


def _version(data: dict[str, Any], visible_from: datetime) -> dict[str, Any]:
    return {"qualification_id": data["id"], "person_id": data["person_id"],
            "insurer_number": data["insurer_number"], "number": data["number"],
            "data": json.dumps(data, ensure_ascii=False), "visible_from": visible_from, "withdrawn": False}


class _Generator:
    """Households, one after another, from one seeded random stream."""

    def __init__(self, seed: int, prefix: str, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.now = aware_jst(now)
        self.today = self.now.date()
        self.count = 0
        self.household = 0
        self.troubles = {"lost": 0, "lag": 0, "no_provide": 0}

    def person_id(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:07d}"

    def households(self) -> Iterator[_Rows]:
        while True:
            yield self._household()

    def _household(self) -> _Rows:
        rng = self.rng
        self.household += 1
        rows = _Rows()
        surname = rng.choice(SURNAMES)
        place, post = rng.choice(PLACES)
        address = f"{place}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号"
        roll = rng.random()
        if roll < 0.12:  # 後期高齢: one person, 75+
            self._member(rows, surname, address, post, kind="kouki", branch=0,
                         number=f"{self.household % 100_000_000:08d}", symbol="",
                         insurer=rng.choice(KOUKI), head_name=None)
            return rows
        kind = "shaho" if roll < 0.72 else "kokuho"
        insurer = rng.choice(SHAHO if kind == "shaho" else KOKUHO)
        symbol = str(rng.randint(1000, 99999)) if kind == "shaho" else f"国{rng.randint(1, 99):02d}"
        number = str(self.household)
        size = rng.choices((1, 2, 3, 4, 5), weights=(30, 28, 18, 18, 6))[0]
        head_name = self._member(rows, surname, address, post, kind=kind, branch=0, number=number,
                                 symbol=symbol, insurer=insurer, head_name=None)
        for branch in range(1, size):
            self._member(rows, surname, address, post, kind=kind, branch=branch, number=number,
                         symbol=symbol, insurer=insurer, head_name=head_name)
        return rows

    def _member(self, rows: _Rows, surname: tuple[str, str], address: str, post: str, *, kind: str,
                branch: int, number: str, symbol: str, insurer: str, head_name: str | None) -> str:
        rng = self.rng
        pid = self.person_id()
        sex = rng.choice("12")
        if kind == "kouki":
            birth = _birthdate(rng, self.today, 75, 102)
        elif head_name is None:  # the insured person / household head
            birth = _birthdate(rng, self.today, 20, 74 if kind == "kokuho" else 66)
        elif branch == 1 and rng.random() < 0.7:  # a spouse
            birth = _birthdate(rng, self.today, 20, 70)
        else:  # a child
            birth = _birthdate(rng, self.today, 0, 22)
        name, kana = _name(rng, surname, sex)
        rows.persons.append({"id": pid, "name": name, "name_kana": kana, "birthdate": birth, "sex": sex,
                             "address": address, "post_number": post, "name_of_other": "",
                             "name_of_other_kana": ""})
        age = _age(birth, self.today)
        preschool = age < 6
        elderly = None
        if kind == "kouki":
            copay = rng.choices((10, 20, 30), weights=(70, 20, 10))[0]
        elif preschool:
            copay = 20
        elif age >= 70:
            copay = rng.choice((20, 30))
            seventy = date(birth.year + 70, birth.month, min(birth.day, 28))
            elderly = {"certificate_date": _iso(seventy), "valid_start": _iso(seventy + timedelta(days=31)),
                       "valid_end": _iso(date(self.today.year + 1, 7, 31)), "contribution_ratio": copay}
        else:
            copay = 30
        acquired = max(birth, self.today - timedelta(days=rng.randint(30, 20 * 365)))
        if kind == "kouki":
            acquired = max(acquired, date(birth.year + 75, birth.month, min(birth.day, 28)))
        personal_family = "1" if head_name is None or kind != "shaho" else "2"
        insured_name = name if head_name is None or kind != "shaho" else head_name
        qid = f"q{pid}"
        data = _qualification(qid, pid, insurer, symbol, number, branch, personal_family, insured_name,
                              acquired, copay, preschool=preschool, elderly=elderly)
        rows.versions.append(_version(data, aware_jst(day_start(acquired))))
        trouble = rng.random()
        if trouble < 0.03:  # lost qualification, known to the system
            lost = self.today - timedelta(days=rng.randint(1, 400))
            if lost > acquired:
                self.troubles["lost"] += 1
                known = aware_jst(day_start(lost)) + timedelta(days=rng.randint(1, 14))
                lost_data = {**data, "lost_on": lost.isoformat(), "reason_of_loss": "99"}
                rows.versions.append(_version(lost_data, known))
        elif trouble < 0.045 and kind == "shaho" and head_name is None:  # job change, new insurer late (F1)
            changed = self.today - timedelta(days=rng.randint(1, 20))
            if changed > acquired:
                self.troubles["lag"] += 1
                known = aware_jst(day_start(changed)) + timedelta(days=1)
                old = {**data, "lost_on": changed.isoformat(), "reason_of_loss": "99"}
                rows.versions.append(_version(old, known))
                new_insurer = rng.choice([n for n in SHAHO if n != insurer])
                new = _qualification(f"q{pid}-2", pid, new_insurer, str(rng.randint(1000, 99999)),
                                     f"{self.household}9", 0, "1", name, changed, copay)
                rows.versions.append(_version(new, self.now + timedelta(days=rng.randint(3, 40))))
        elif trouble < 0.05:  # 自己情報提供不可
            self.troubles["no_provide"] += 1
            rows.no_provide.append({"person_id": pid, "active": True, "visible_from": EPOCH})
        return insured_name


def _serial(seed: int, index: int) -> int:
    digest = hashlib.sha256(f"onshi-population:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:20], "big") >> 1 | 1  # 159 bits, positive


def _now(session: Session) -> datetime:
    row = session.get(tables.Setting, "clock")
    if row is not None:
        return SimulatedClock.from_json(json.loads(row.value)).now()
    return SimulatedClock.real_time().now()


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start:start + BATCH])


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _remove_previous(conn: Connection, prefix: str) -> int:
    """Removes an earlier population with this prefix (generating twice replaces it)."""
    like = f"{prefix}%"
    found = conn.execute(select(col(tables.Person.id)).where(col(tables.Person.id).like(like)).limit(1))
    if found.first() is None:
        return 0
    serials = select(col(tables.Card.serial)).where(col(tables.Card.person_id).like(like))
    conn.execute(delete(tables.SerialLink).where(col(tables.SerialLink.serial).in_(serials)))
    for model in (tables.Card, tables.Certificate, tables.NoProvideFlag, tables.QualificationVersion):
        conn.execute(delete(model).where(col(model.person_id).like(like)))  # type: ignore[attr-defined]
    conn.execute(delete(tables.Person).where(col(tables.Person.id).like(like)))
    return 1


def ensure_bench_clinic(session: Session) -> None:
    if session.get(tables.Clinic, BENCH_CLINIC["code"]) is None:
        session.add(tables.Clinic(code=BENCH_CLINIC["code"], name=BENCH_CLINIC["name"],
                                  token_sha256=token_hash(BENCH_CLINIC["token"])))


def _ensure_insurers(session: Session) -> None:
    for number, name, kind in INSURERS:
        if session.get(tables.Insurer, number) is None:
            session.add(tables.Insurer(number=number, name=name, kind=kind))


def _ensure_indexes(engine: Engine) -> None:
    """Indexes declared on the tables that an older database may lack (create_all skips them)."""
    for model in (tables.QualificationVersion, tables.SerialLink, tables.NoProvideFlag):
        for index in _table(model).indexes:
            index.create(engine, checkfirst=True)


def generate_population(engine: Engine, persons: int, *, seed: int = 1, cards: int = 1000,
                        progress: Progress | None = None) -> dict[str, Any]:
    """Adds ``persons`` synthetic people (``cards`` of them with a card); see the module docstring.

    Person ids are ``g<seed>-NNNNNNN``; generating again with the same seed replaces that
    population. Returns counts, the moment used, and a sample of card holders and number-check
    numbers (``sample_numbers``) for a load generator.
    """
    say = progress or (lambda _text: None)
    persons = max(0, persons)
    cards = max(0, min(cards, persons))
    prefix = f"g{seed}-"
    with Session(engine) as session:
        now = _now(session)
        ca = ca_from_settings(session, now)
        ensure_bench_clinic(session)
        _ensure_insurers(session)
        session.commit()
    _ensure_indexes(engine)
    generator = _Generator(seed, prefix, now)
    card_every = max(1, persons // cards) if cards else 0
    keys = _key_pool(min(KEY_POOL, cards), say)
    report: dict[str, Any] = {"persons": 0, "cards": 0, "seed": seed, "now": now.isoformat(),
                              "card_holders": [], "sample_numbers": []}
    numbers_every = max(1, persons // 2000)
    with engine.begin() as conn:
        if _remove_previous(conn, prefix):
            say(f"replaced the earlier population {prefix}*")
        pending = _Rows()
        card_rows: dict[str, list[dict[str, Any]]] = {"certificates": [], "links": [], "cards": []}
        households = generator.households()
        while generator.count < persons:
            rows = next(households)
            overflow = generator.count - persons
            if overflow > 0:  # the last household is cut to size
                keep = {p["id"] for p in rows.persons[: len(rows.persons) - overflow]}
                rows.persons = [p for p in rows.persons if p["id"] in keep]
                rows.versions = [v for v in rows.versions if v["person_id"] in keep]
                rows.no_provide = [f for f in rows.no_provide if f["person_id"] in keep]
                generator.count = persons
            for person in rows.persons:
                index = int(person["id"][len(prefix):])
                if card_every and (index - 1) % card_every == 0 and report["cards"] < cards:
                    _card(ca, keys[report["cards"] % len(keys)], person, seed, index, now, card_rows)
                    report["cards"] += 1
                    report["card_holders"].append(person["id"])
                if (index - 1) % numbers_every == 0:
                    report["sample_numbers"].append(_numbers_of(person, rows.versions))
            pending.persons += rows.persons
            pending.versions += rows.versions
            pending.no_provide += rows.no_provide
            if len(pending) >= BATCH:
                _flush(conn, pending, card_rows)
                pending = _Rows()
                if generator.count % 100_000 < BATCH:
                    say(f"  {generator.count:,} persons")
        _flush(conn, pending, card_rows)
    report["persons"] = persons
    report["troubles"] = dict(generator.troubles)
    say(f"generated {persons:,} persons, {report['cards']:,} cards (seed {seed})")
    return report


def _numbers_of(person: dict[str, Any], versions: list[dict[str, Any]]) -> dict[str, str]:
    first = next(v for v in versions if v["person_id"] == person["id"])
    data = json.loads(first["data"])
    return {"person_id": person["id"], "insurer": data["insurer_number"], "symbol": data["symbol"],
            "number": data["number"], "branch": data["branch"], "birthdate": person["birthdate"].isoformat()}


def _key_pool(size: int, say: Progress) -> list[tuple[Any, str]]:
    if size:
        say(f"generating {size} card key pairs (shared by the population's cards)")
    keys = []
    for _ in range(size):
        key = generate_key()
        keys.append((key, private_key_to_pem(key)))
    return keys


def _card(ca: CertificateAuthority, key: tuple[Any, str], person: dict[str, Any], seed: int, index: int,
          now: datetime, out: dict[str, list[dict[str, Any]]]) -> None:
    birth: date = person["birthdate"]
    today = aware_jst(now).date()
    back = timedelta(days=30 + (index * 7919) % 1200)
    issued_on = min(today, max(birth + timedelta(days=30), today - back))
    cert = ca.issue_user_certificate(key[0].public_key(), holder_birthdate=birth, issued_on=issued_on,
                                     serial=_serial(seed, index))
    serial = str(cert.serial_number)
    out["certificates"].append({
        "serial": serial, "person_id": person["id"], "pem": certificate_to_pem(cert),
        "not_before": issued_on, "not_after": cert.not_valid_after_utc.astimezone(now.tzinfo).date(),
        "issued_at": aware_jst(now), "predecessor_serial": None,
    })
    out["links"].append({"serial": serial, "person_id": person["id"],
                         "visible_from": aware_jst(day_start(issued_on))})
    photo = "astronaut" if index % 2 else "hopper"
    out["cards"].append({
        "person_id": person["id"], "serial": serial, "private_key_pem": key[1], "variant": "standard",
        "pin_hash": POPULATION_PIN_HASH, "photo": photo, "issued_on": issued_on,
        "expires_on": card_expiry(birth, issued_on),
    })


def _flush(conn: Connection, rows: _Rows, card_rows: dict[str, list[dict[str, Any]]]) -> None:
    _insert(conn, _table(tables.Person), rows.persons)
    _insert(conn, _table(tables.QualificationVersion), rows.versions)
    _insert(conn, _table(tables.NoProvideFlag), rows.no_provide)
    _insert(conn, _table(tables.Certificate), card_rows["certificates"])
    _insert(conn, _table(tables.SerialLink), card_rows["links"])
    _insert(conn, _table(tables.Card), card_rows["cards"])
    for rows_of_kind in card_rows.values():
        rows_of_kind.clear()

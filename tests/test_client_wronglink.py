"""The wrong-link check (F2) as a pure function: the clinic's record vs the returned person."""

from __future__ import annotations

import doctest
from datetime import date

import clinic_client.wronglink as wronglink
from clinic_client.wronglink import Identity, check_identity, names_match, normalize_kana
from onshi.messages import ResultOfQualificationConfirmation as Result

PATIENT = Identity("山田 太郎", date(1980, 4, 1), "ヤマダ タロウ")


def test_same_person_is_not_flagged() -> None:
    assert check_identity(PATIENT, Result(Name="山田 太郎", Birthdate="19800401", NameKana="ﾔﾏﾀﾞ ﾀﾛｳ")) is None


def test_width_and_spacing_differences_are_not_alarms() -> None:
    assert check_identity(PATIENT, Result(Name="山田　太郎", Birthdate="19800401")) is None
    assert check_identity(PATIENT, Result(Name="山田太郎", Birthdate="19800401")) is None


def test_someone_else_with_the_same_birthdate_is_flagged_on_name() -> None:
    flag = check_identity(PATIENT, Result(Name="山田 花子", Birthdate="19800401", NameKana="ﾔﾏﾀﾞ ﾊﾅｺ"))
    assert flag is not None
    assert flag.fields == ("name",)
    assert flag.mismatches[0].on_file == "山田 太郎"
    assert flag.mismatches[0].returned == "山田 花子"
    assert not flag.kana_matches


def test_same_name_other_birthdate_is_flagged() -> None:
    # The classic wrong link: a namesake registered by hand.
    flag = check_identity(PATIENT, Result(Name="山田 太郎", Birthdate="19790912"))
    assert flag is not None
    assert flag.fields == ("birthdate",)
    assert flag.mismatches[0].on_file == "1980-04-01"
    assert flag.mismatches[0].returned == "1979-09-12"


def test_both_differ() -> None:
    flag = check_identity(PATIENT, Result(Name="佐藤 一郎", Birthdate="19550101"))
    assert flag is not None and flag.fields == ("name", "birthdate")


def test_replacement_character_matches_one_character() -> None:
    # F5: 髙 and 𠮷 are outside the system's character set and come back as ●.
    record = Identity("髙橋 𠮷男", date(1990, 1, 2))
    assert check_identity(record, Result(Name="●橋 ●男", Birthdate="19900102")) is None
    assert names_match("髙橋", "●橋")
    assert not names_match("髙橋", "●田")
    assert not names_match("髙橋", "●橋子")


def test_name_of_other_counts_as_the_name() -> None:
    record = Identity("Smith John", date(1985, 5, 5))
    assert (
        check_identity(record, Result(Name="スミス ジョン", NameOfOther="Smith John", Birthdate="19850505"))
        is None
    )


def test_variant_spelling_is_flagged_but_kana_hint_given() -> None:
    record = Identity("斉藤 一", date(1970, 7, 7), "さいとう はじめ")
    flag = check_identity(record, Result(Name="齋藤 一", Birthdate="19700707", NameKana="ｻｲﾄｳ ﾊｼﾞﾒ"))
    assert flag is not None and flag.kana_matches


def test_nothing_returned_means_nothing_to_compare() -> None:
    assert check_identity(PATIENT, Result()) is None


def test_kana_normalisation() -> None:
    assert normalize_kana("ﾔﾏﾀﾞ ﾀﾛｳ") == normalize_kana("やまだ たろう") == "ヤマダタロウ"


def test_doctests() -> None:
    assert doctest.testmod(wronglink).failed == 0

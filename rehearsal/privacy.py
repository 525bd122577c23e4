"""The gallery's privacy page: what the system reveals, and about whom (DOMAIN §6).

Plain data. Figures are keys of ``onshi.catalogue.FIGURES`` (one source of truth for numbers and
their sources); failure links are catalogue ids, whose own texts the page shows beside these.
"""

from __future__ import annotations

from dataclasses import dataclass

from rehearsal.scenario import Text


@dataclass(frozen=True)
class Theme:
    key: str
    title: Text
    body: Text
    figures: tuple[str, ...] = ()  # keys of onshi.catalogue.FIGURES
    failures: tuple[str, ...] = ()  # catalogue ids the gallery links to


THEMES: tuple[Theme, ...] = (
    Theme(
        "consent",
        Text("混雑した窓口で、ボタン一つの同意", "Consent is one button at a busy counter"),
        Text("薬剤情報や健診情報を医師に見せるかどうかは、受付のカードリーダーで患者がボタンを押して決めます。"
             "後ろに人が並ぶ窓口で、説明を読む時間はほとんどありません。2021〜22年のカードでの確認のうち、"
             "閲覧に同意したのは特定健診情報で約16%、薬剤情報で約44%でした。",
             "Whether a doctor may see medication or check-up records is decided by the patient pressing "
             "a button on the reader at reception, with a queue behind them and hardly time to read. Of "
             "the card checks in 2021–22, only about 16% consented to check-ups and about 44% to "
             "medication."),
        figures=("consent_checkup", "consent_medication"),
    ),
    Theme(
        "no-provide",
        Text("提供不可フラグは「フラグがあること」を明かす",
             "The no-provide flag reveals that a flag exists"),
        Text("DV被害などで自己情報の提供を止めた人は、同意してもすべての医療情報が提供されません。"
             "「提供できません」という表示そのものが、窓口に事情があることを知らせてしまいます。"
             "理由を尋ねてはいけません。",
             "People who stopped their records being provided (e.g. after domestic violence) get no "
             "medical information even with consent — and the message 'cannot be provided' itself tells "
             "the counter that there is a reason. Never ask why."),
        failures=("F4",),
    ),
    Theme(
        "serial",
        Text("人を識別するのは電子証明書のシリアル番号",
             "People are identified by the certificate's serial number"),
        Text("資格確認はマイナンバーではなく、カードの電子証明書のシリアル番号で人を特定します。"
             "シリアル番号を別人に紐付ければ、その人の薬剤・診療情報が別の患者の医師に見えます"
             "（2023年に約7,300件の紐付け誤り）。証明書を更新すれば番号が変わり、紐付けが届くまで"
             "「該当資格なし」になります。",
             "The eligibility check finds a person by the serial number of the card's certificate, not "
             "by the My Number. Link a serial to the wrong person and that person's medication and "
             "diagnoses appear to another patient's doctor (about 7,300 wrong links found in 2023). A "
             "renewed certificate has a new serial: 'no matching qualification' until the link arrives."),
        figures=("wrong_links_2023",),
        failures=("F2", "F12"),
    ),
    Theme(
        "access-record",
        Text("誰が見たかの記録", "A record of who looked"),
        Text("照会のたびに、どの医療機関がいつ、何を、どの根拠（同意・提供不可）で見たかが記録されます。"
             "本人はマイナポータルでこれを確認できます。このシミュレーターも同じ記録を残し、"
             "管理用のアクセス記録で確かめられます。",
             "Every lookup leaves a record of which clinic viewed what, when, and on what basis (consent, "
             "no-provide); the person can inspect it on the Mynaportal. This simulator keeps the same "
             "record (admin API GET /api/v1/admin/access-log)."),
    ),
)

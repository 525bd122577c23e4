"""Reader error codes, shown on the reader's screen and handed to the clinic console.

Assumption: the real readers' own codes are vendor-specific and not in our sources, so the codes
are ours, grouped like a vendor's: R1xx card, R2xx camera, R3xx PIN, R4xx device, R5xx network
and central system, R6xx the session (timeout, cancel), R7xx the smartphone マイナ保険証 on the
汎用カードリーダー (no such reader at this clinic, the phone not read, moved too early, the holder's
confirmation on the phone failed). Every R7xx tells the counter what to do next: check by other
means (資格確認書, 資格情報のお知らせ or the マイナポータル 資格情報画面, a number check), never 100%.
The wording follows the real readers' style: what happened, then what to do.
"""

from __future__ import annotations

from onshi.codes import Code


class ReaderError(Code):
    CARD_NOT_RECOGNISED = (
        "R101",
        "カードを読み取れませんでした。カードを置き直してください。",
        "The card could not be read. Place the card again.",
    )
    NOT_MY_NUMBER_CARD = (
        "R102",
        "マイナンバーカードではありません。マイナンバーカードを置いてください。",
        "This is not a My Number card. Place a My Number card.",
    )
    CARD_REMOVED = (
        "R103",
        "カードが取り外されました。最初からやり直してください。",
        "The card was removed. Start again.",
    )
    CAMERA_FAILURE = (
        "R201",
        "カメラが使用できません。暗証番号または目視確認で本人確認をしてください。",
        "The camera is not available. Use the PIN or a visual check by staff.",
    )
    FACE_NOT_CONFIRMED = (
        "R202",
        "顔認証ができませんでした。暗証番号または目視確認に切り替えてください。",
        "Face authentication failed. Switch to the PIN or a visual check by staff.",
    )
    PIN_LOCKED = (
        "R301",
        "暗証番号がロックされています。ロック解除はお住まいの市区町村窓口で手続きしてください。",
        "The PIN is locked. It can be reset at the municipal office.",
    )
    PIN_NOT_SET = (
        "R302",
        "このカードには暗証番号が設定されていません（顔認証マイナンバーカード）。",
        "This card has no PIN (face-authentication-only card).",
    )
    READER_DISCONNECTED = (
        "R401",
        "カードリーダーとの接続が切れました。ケーブルの接続を確認してください。",
        "The card reader is disconnected. Check its cable.",
    )
    NETWORK_FAILURE = (
        "R501",
        "ネットワークに接続できません。しばらくしてからやり直すか、被保険者番号で確認してください。",
        "Cannot reach the network. Try again later or check by insurance number.",
    )
    CENTRAL_ERROR = (
        "R502",
        "オンライン資格確認等システムでエラーが発生しました。被保険者番号で確認してください。",
        "The online eligibility system returned an error. Check by insurance number.",
    )
    TIMEOUT = (
        "R601",
        "一定時間操作がなかったため、処理を中止しました。最初からやり直してください。",
        "No response for a while, so the check was stopped. Start again.",
    )
    CANCELLED = (
        "R602",
        "本人確認を中止しました。",
        "The check was cancelled.",
    )
    SUPERSEDED = (
        "R603",
        "別の患者さんの確認が始まったため、この確認は取り消されました。必要なら、もう一度カードで確認を始めてください。",
        "Another patient's check was started, so this one was withdrawn. Start it again if needed.",
    )
    NO_CARD = (
        "R604",
        "カードが置かれないまま時間が過ぎたため、確認を取り消しました。カードを置いていただき、もう一度始めてください。",
        "No card was placed in time, so the check was withdrawn. Ask for the card and start again.",
    )
    NO_GENERAL_READER = (
        "R701",
        "この医療機関では、スマートフォンのマイナ保険証はご利用いただけません（汎用カードリーダーがありません）。"
        "マイナンバーカード、資格確認書または資格情報のお知らせを受付にご提示ください。",
        "Smartphone My Number insurance cannot be used at this clinic (no general-purpose card reader). "
        "Show the My Number card, the 資格確認書 or the 資格情報のお知らせ at reception.",
    )
    PHONE_NOT_READ = (
        "R702",
        "スマートフォンを読み取れませんでした。かざす位置（アンテナの位置）を変えて、もう一度かざしてください。",
        "The smartphone could not be read. Move it so its antenna is over the reader and hold it again.",
    )
    PHONE_MOVED_EARLY = (
        "R703",
        "読み取りが終わる前にスマートフォンが離れました。読み取りが終わるまで、動かさずにかざしてください。",
        "The smartphone was moved away before the read finished. Hold it still until the read is done.",
    )
    PHONE_TIMEOUT = (
        "R704",
        "スマートフォンが読み取れないまま時間が過ぎました。マイナンバーカード、資格確認書または資格情報のお知らせで"
        "確認してください。",
        "The smartphone was not read in time. Check with the My Number card, the 資格確認書 or the "
        "資格情報のお知らせ.",
    )
    PHONE_AUTH_FAILED = (
        "R705",
        "スマートフォンで本人確認（生体認証）ができませんでした。マイナンバーカード、資格確認書または"
        "資格情報のお知らせで確認してください。",
        "Identity could not be confirmed on the smartphone (biometrics). Check with the My Number card, "
        "the 資格確認書 or the 資格情報のお知らせ.",
    )
    PHONE_PIN_LOCKED = (
        "R706",
        "暗証番号がロックされています（マイナンバーカードと共通）。スマートフォンでは確認できません。"
        "カードの顔認証、資格確認書または資格情報のお知らせで確認してください。ロック解除は市区町村窓口です。",
        "The PIN (shared with the My Number card) is locked, so the smartphone cannot be used. Use the "
        "card's face authentication, the 資格確認書 or the 資格情報のお知らせ; the municipal office "
        "resets it.",
    )
    PHONE_NOT_SET_UP = (
        "R707",
        "このスマートフォンにはマイナ保険証（電子証明書）が入っていません。マイナンバーカード、資格確認書または"
        "資格情報のお知らせで確認してください。",
        "This smartphone holds no My Number insurance (certificate). Check with the My Number card, the "
        "資格確認書 or the 資格情報のお知らせ.",
    )

"""Virtual cards and phones from the server's mock authority: fixture personas, newly issued cards,
phones set up with a person's card functions (``POST /admin/phones``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cardreader_emulator import faces
from cardreader_emulator.card import (
    CardVariant,
    VirtualCard,
    VirtualPhone,
    variant_of,
    write_card,
    write_phone,
)
from cardreader_emulator.central import Admin, CentralError


def photo_jpeg(photo: str | None) -> bytes | None:
    """The chip photo: a named portrait (``faces.PORTRAITS``) or an image file."""
    if not photo:
        return None
    if photo in faces.PORTRAITS:
        image = faces.portrait_chip_photo(photo)
    else:
        image = faces.chip_photo(faces.load_image(Path(photo)))
    return faces.encode_jpeg(image, quality=92)


def card_from_material(
    cards_dir: Path, material: dict[str, Any], card_id: str | None = None, photo: bytes | None = None
) -> VirtualCard:
    person = material["person"]
    variant = variant_of(material.get("variant") or "standard")
    source = None
    if photo is None and variant is not CardVariant.INFANT:
        photo = photo_jpeg(material.get("photo"))
        source = material.get("photo") if material.get("photo") in faces.PORTRAITS else None
    return write_card(
        cards_dir,
        card_id or person["id"],
        person={k: person.get(k, "") for k in ("name", "name_kana", "birthdate", "sex", "address")},
        variant=variant,
        certificate_pem=material["certificate_pem"],
        private_key_pem=material["private_key_pem"],
        pin=material.get("pin"),
        pin_hash=material.get("pin_hash"),  # the server keeps (and sends) only the hash
        photo_jpeg=photo,
        card_expires_on=material.get("card_expires_on"),
        person_id=person["id"],
        persona=person["id"],
        photo_source=source,
    )


def fetch_fixture_cards(
    admin: Admin, cards_dir: Path, only: list[str] | None = None, keep_pin_state: bool = True
) -> list[VirtualCard]:
    """Writes a virtual card for every card the server knows (or only the given persons).

    With ``keep_pin_state`` a card already in the tray keeps its PIN counter (a locked card stays
    locked across restarts, as a real one does); otherwise the card is re-made fresh.
    """
    materials = [admin.card(person_id) for person_id in only] if only else admin.cards()
    return [_kept_or_made(cards_dir, m, m["person"]["id"], "card.json", VirtualCard, card_from_material,
                          keep=keep_pin_state)
            for m in materials]


class _Held(Protocol):
    certificate_pem: str


T = TypeVar("T", bound=_Held)


def _kept_or_made(cards_dir: Path, material: dict[str, Any], name: str, file: str, load: Callable[[Path], T],
                  make: Callable[[Path, dict[str, Any]], T], *, keep: bool = True) -> T:
    """What the tray already holds under ``name`` if it carries the material's certificate (its PIN
    counter kept), else a new one made from the material."""
    folder = cards_dir / name
    if keep and (folder / file).is_file():
        held = load(folder)
        if held.certificate_pem == material["certificate_pem"]:
            return held
    return make(cards_dir, material)


def issue_card(
    admin: Admin,
    cards_dir: Path,
    *,
    name: str,
    name_kana: str,
    birthdate: str,
    sex: str,
    variant: str,
    pin: str | None,
    photo: bytes | None,
    card_id: str | None = None,
) -> VirtualCard:
    """A card for a new person (e.g. a trainee with their own face): the server makes the key pair,
    the certificate and a valid qualification; the photo stays with the reader. The photo is
    checked first (faces.NoFaceInPhoto, faces.SeveralFacesInPhoto), so a bad one issues nothing."""
    if photo is not None:
        photo = faces.encode_jpeg(faces.chip_photo(faces.decode_image(photo), single=True), quality=92)
    body: dict[str, Any] = {
        "name": name,
        "name_kana": name_kana,
        "birthdate": birthdate,
        "sex": sex,
        "variant": variant,
        "pin": pin if variant != "face_only" else None,
    }
    material = admin.issue_card(body)
    return card_from_material(cards_dir, material, card_id=card_id, photo=photo)


def fetch_fixture_phones(admin: Admin, cards_dir: Path, only: list[str] | None = None) -> list[VirtualPhone]:
    """Writes a virtual phone for every phone the registry knows (or only the given phone ids), beside
    the cards. A phone already in the tray with the same certificate is kept (its PIN record is the
    card's anyway). A server without phones (no ``/admin/phones``) gives none."""
    try:
        materials = [admin.phone(phone_id) for phone_id in only] if only else admin.phones()
    except CentralError as exc:
        if exc.status == 404 and not only:
            return []
        raise
    return [_kept_or_made(cards_dir, m, str(m["phone_id"]), "phone.json", VirtualPhone, write_phone)
            for m in materials]


def issue_phone(
    admin: Admin,
    cards_dir: Path,
    *,
    person_id: str,
    platform: str,
    link_lag_days: float | None = None,
    certificate_not_after: str | None = None,
) -> VirtualPhone:
    """Puts a person's card functions on a phone: the registry makes the phone's own key pair and
    certificate (and refuses what the real one refuses: no card, a face-only card, under 15, an iPhone
    under 16, the card's certificate expired or revoked), the reader's tray gets the phone."""
    body: dict[str, object] = {"person_id": person_id, "platform": platform}
    if link_lag_days is not None:
        body["link_lag_days"] = link_lag_days
    if certificate_not_after is not None:
        body["certificate_not_after"] = certificate_not_after
    return write_phone(cards_dir, admin.issue_phone(body))

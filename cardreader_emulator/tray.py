"""The card tray beside a running reader, kept in step with the registry.

The registry issues cards: a fixture reload issues every card anew (new key pairs, new
certificates), a renewal gives one person a new certificate, `POST /admin/cards` adds a person.
A virtual card is the patient's card *as the registry last issued it*, so before the reader reads
a card it asks the server for that card's material and re-makes the card when the certificate
changed (``Tray.current``); the tray's list re-syncs with the server's list of cards when it is
shown (``Tray.sync``, at most every few seconds). A server that does not know the person (a card
issued before a reload) or cannot be reached leaves the card as it is: the check then says so.

A re-made card is a new card: its PIN counter starts again at 3 (a locked card from before the
reload is unlocked), as the registry's reload is a fresh start for a rehearsal.

Phones (``<person_id>.<platform>``) are kept in step the same way (``Tray.current_phone``; the sync
takes the registry's phones too): a phone set up again has a new certificate and is re-made.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cardreader_emulator.card import CardStore, VirtualCard, VirtualPhone, write_phone
from cardreader_emulator.central import CentralError
from cardreader_emulator.provision import card_from_material

log = logging.getLogger("onshi.reader")


class CardSource(Protocol):
    """Where card material comes from (``central.Admin``)."""

    def card(self, person_id: str) -> dict[str, Any]: ...

    def cards(self) -> list[dict[str, Any]]: ...

    def phone(self, phone_id: str) -> dict[str, Any]: ...

    def phones(self) -> list[dict[str, Any]]: ...


class Tray:
    def __init__(
        self,
        store: CardStore,
        source: CardSource | None,
        *,
        sync_every: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.source = source
        self.sync_every = sync_every
        self.clock = clock
        self._lock = threading.Lock()
        self._synced_at: float | None = None
        self.remade = 0  # how many cards were re-made to match the registry (for logs and tests)

    def current(self, card: VirtualCard) -> VirtualCard:
        """``card`` as the registry knows it now (re-made if the registry issued it anew)."""
        if self.source is None:
            return card
        try:
            material = self.source.card(card.person_id or card.card_id)
        except CentralError as exc:
            if exc.status not in (404, None):
                log.warning("card %s not checked against the registry: %s", card.card_id, exc)
            return card  # unknown to the registry (or no answer): the check will say so
        return self._refresh(card, material)

    def current_phone(self, phone: VirtualPhone) -> VirtualPhone:
        """``phone`` as the registry knows it now (re-made if it was set up again)."""
        if self.source is None:
            return phone
        try:
            material = self.source.phone(phone.phone_id)
        except CentralError as exc:
            if exc.status not in (404, None):
                log.warning("phone %s not checked against the registry: %s", phone.phone_id, exc)
            return phone
        return self._refresh_phone(phone, material)

    def _refresh_phone(self, phone: VirtualPhone, material: dict[str, Any]) -> VirtualPhone:
        if not material.get("certificate_pem") or material["certificate_pem"] == phone.certificate_pem:
            return phone
        log.info("phone %s set up again in the registry: the tray's copy is re-made", phone.phone_id)
        self.remade += 1
        return write_phone(self.store.cards_dir, material)

    def sync(self, force: bool = False) -> None:
        """Makes the tray hold every card the registry knows, each as last issued."""
        if self.source is None:
            return
        with self._lock:
            now = self.clock()
            if not force and self._synced_at is not None and now - self._synced_at < self.sync_every:
                return
            self._synced_at = now
        try:
            materials = self.source.cards()
        except CentralError as exc:
            log.warning("card tray not synced with the registry: %s", exc)
            return
        known = set(self.store.ids())
        for material in materials:
            card_id = str(material["person"]["id"])
            if card_id in known:
                self._refresh(self.store.get(card_id), material)
            else:
                card_from_material(self.store.cards_dir, material)
                self.remade += 1
        try:
            phones = self.source.phones()
        except CentralError as exc:
            if exc.status != 404:  # 404: a server without phones
                log.warning("phones not synced with the registry: %s", exc)
            return
        known_phones = set(self.store.phone_ids())
        for material in phones:
            phone_id = str(material["phone_id"])
            if phone_id in known_phones:
                self._refresh_phone(self.store.phone(phone_id), material)
            else:
                write_phone(self.store.cards_dir, material)
                self.remade += 1

    def _refresh(self, card: VirtualCard, material: dict[str, Any]) -> VirtualCard:
        if not material.get("certificate_pem") or material["certificate_pem"] == card.certificate_pem:
            return card
        # A trainee's own photo is known only to the reader: it stays on the re-made card.
        photo = None
        if not material.get("photo") and card.photo_path is not None:
            photo = card.photo_path.read_bytes()
        log.info("card %s re-issued by the registry: the tray's copy is re-made", card.card_id)
        made = card_from_material(self.store.cards_dir, material, card_id=card.card_id, photo=photo)
        self.remade += 1
        return made

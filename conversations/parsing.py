"""One parser for every Whaticket webhook shape (contract variants A-E).

The shape is detected by its keys; the result is our own small `Inbound` record. Nothing
else in the project knows a Whaticket field name of an incoming payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

LRM = "\u200e"


class UnknownShape(ValueError):
    """The JSON is valid but matches none of the known payload shapes."""


@dataclass
class Inbound:
    kind: str  # "message", "ticket" (a ticket event) or "ignored"
    variant: str
    reason: str = ""  # why ignored
    external_id: str = ""
    phone: str | None = None  # E.164 with "+"
    wa_id: str = ""  # the raw digits to reply to
    lid: str | None = None
    name: str = ""
    text: str = ""
    media_kind: str = "text"
    from_me: bool = False
    is_group: bool = False
    timestamp: datetime | None = None
    ticket_id: str = ""
    ticket_status: str = ""
    agent_id: str = ""  # a person's user id on the ticket or message
    typed_by_person: bool = False  # D: a fromMe message with `user` / sendType manual

    @property
    def takeover(self) -> bool:
        return self.ticket_status == "open" and bool(self.agent_id)


def ignored(variant: str, reason: str) -> Inbound:
    return Inbound(kind="ignored", variant=variant, reason=reason)


# --- normalisation ----------------------------------------------------------------------


def clean_text(value) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip().lstrip(LRM).strip()


def normalize_phone(raw) -> tuple[str | None, str]:
    """(E.164, raw digits) of a WhatsApp number or JID; (None, "") for groups and junk."""
    if raw is None:
        return None, ""
    text = str(raw).split("@", 1)[0]
    if "-" in text and str(raw).endswith("@g.us"):
        return None, ""
    digits = re.sub(r"\D", "", text)
    if not 8 <= len(digits) <= 15:
        return None, ""
    e164 = digits
    # Brazilian mobiles stored by WhatsApp without the ninth digit: 55 + DDD + 8 digits
    # starting 6-9. Landlines (2-5) keep their 8 digits.
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":
        e164 = digits[:4] + "9" + digits[4:]
    return f"+{e164}", digits


def parse_timestamp(value) -> datetime | None:
    if isinstance(value, dict) and "low" in value:
        value = (int(value.get("high") or 0) << 32) + (int(value["low"]) & 0xFFFFFFFF)
    if isinstance(value, str):
        if value.isdigit():
            value = int(value)
        else:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
    if isinstance(value, int | float) and value > 0:
        if value > 10**12:
            value = value / 1000
        return datetime.fromtimestamp(value, tz=UTC)
    return None


MEDIA_KINDS = [
    (("chat", "conversation", "extendedtextmessage", "text"), "text"),
    (("ptt",), "voice"),
    (("audio",), "audio"),
    (("image",), "image"),
    (("video",), "video"),
    (("document", "application"), "document"),
    (("location", "livelocation"), "location"),
    (("vcard", "multi_vcard", "contact"), "contact"),
    (("sticker",), "sticker"),
]
NOT_A_MESSAGE = ("reaction", "poll", "protocol", "edited", "revoked", "messagestub", "e2e_notification", "call_log")


def media_kind(value: str | None) -> str | None:
    """Our media kind of a Whaticket/Baileys type name; None when it is not a message."""
    name = (value or "chat").lower()
    if name.startswith(NOT_A_MESSAGE):
        return None
    for prefixes, kind in MEDIA_KINDS:
        if name.startswith(prefixes):
            return kind
    return "document"


# --- variant A: raw Baileys message -------------------------------------------------------

_WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "documentWithCaptionMessage")


def _unwrap(message: dict) -> dict:
    for _ in range(3):
        for wrapper in _WRAPPERS:
            inner = message.get(wrapper)
            if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
                message = inner["message"]
                break
        else:
            return message
    return message


def _baileys_text_and_kind(message: dict) -> tuple[str, str | None]:
    message = _unwrap(message)
    if "conversation" in message:
        return clean_text(message["conversation"]), "text"
    if isinstance(message.get("extendedTextMessage"), dict):
        return clean_text(message["extendedTextMessage"].get("text")), "text"
    if isinstance(message.get("buttonsResponseMessage"), dict):
        return clean_text(message["buttonsResponseMessage"].get("selectedDisplayText")), "text"
    if isinstance(message.get("listResponseMessage"), dict):
        reply = message["listResponseMessage"].get("singleSelectReply") or {}
        return clean_text(reply.get("selectedRowId") or message["listResponseMessage"].get("title")), "text"
    for key, value in message.items():
        if key in ("messageContextInfo", "senderKeyDistributionMessage"):
            continue
        kind = media_kind(key)
        if kind is None:
            return "", None
        if key == "audioMessage" and isinstance(value, dict) and value.get("ptt"):
            kind = "voice"
        caption = value.get("caption") if isinstance(value, dict) else None
        return clean_text(caption), kind
    return "", None


def _variant_a(data: dict) -> Inbound:
    key = data.get("key") or {}
    jid = str(key.get("remoteJid") or "")
    if jid == "status@broadcast" or jid.endswith("@newsletter") or data.get("broadcast") is True:
        return ignored("A", "not_a_message")
    if jid.endswith("@g.us"):
        return ignored("A", "group")
    if data.get("messageStubType"):
        return ignored("A", "not_a_message")
    message = data.get("message")
    if not isinstance(message, dict):
        return ignored("A", "not_a_message")
    text, kind = _baileys_text_and_kind(message)
    if kind is None:
        return ignored("A", "not_a_message")
    lid = None
    if jid.endswith("@lid"):
        lid = jid.split("@", 1)[0]
        jid = str(key.get("remoteJidAlt") or key.get("senderPn") or "")
    phone, digits = normalize_phone(jid) if jid else (None, "")
    return Inbound(
        kind="message",
        variant="A",
        external_id=str(key.get("id") or ""),
        phone=phone,
        wa_id=digits,
        lid=lid,
        name=clean_text(data.get("pushName")),
        text=text,
        media_kind=kind,
        from_me=bool(key.get("fromMe")),
        timestamp=parse_timestamp(data.get("messageTimestamp")),
    )


# --- variant B: whapiv4 event envelope ------------------------------------------------------


def _variant_b(data: dict) -> Inbound:
    event = str(data.get("event") or "")
    body = data.get("data") or {}
    if not isinstance(body, dict):
        raise UnknownShape("data is not an object")
    if event == "ticket_updated":
        phone, digits = normalize_phone(body.get("contactNumber"))
        if body.get("isGroup"):
            return ignored("B", "group")
        return Inbound(
            kind="ticket",
            variant="B",
            phone=phone,
            wa_id=digits,
            ticket_id=str(body.get("ticketId") or ""),
            ticket_status=str(body.get("newStatus") or ""),
            agent_id=str(body.get("newUserId") or ""),
        )
    if event == "ticket_closed":
        phone, digits = normalize_phone(body.get("contactNumber"))
        return Inbound(
            kind="ticket",
            variant="B",
            phone=phone,
            wa_id=digits,
            ticket_id=str(body.get("ticketId") or ""),
            ticket_status="closed",
        )
    if event not in ("message_received", "message_sent"):
        return ignored("B", "other_event")
    contact = body.get("contact") or {}
    kind = media_kind(body.get("mediaType"))
    if kind is None:
        return ignored("B", "not_a_message")
    phone, digits = normalize_phone(contact.get("number"))
    text = clean_text(body.get("body")) if kind == "text" else ""
    if kind != "text" and kind not in ("location", "contact"):
        text = clean_text(body.get("caption"))
    return Inbound(
        kind="message",
        variant="B",
        external_id=str(body.get("messageId") or ""),
        phone=phone,
        wa_id=digits,
        name=clean_text(contact.get("name")),
        text=text,
        media_kind=kind,
        from_me=bool(body.get("fromMe")) or event == "message_sent",
        timestamp=parse_timestamp(body.get("timestamp")),
        ticket_id=str(body.get("ticketId") or ""),
    )


# --- variant C: Whaticket's own appMessage, relayed ---------------------------------------


def _variant_c(data: dict) -> Inbound:
    if data.get("action") != "create":
        return ignored("C", "other_event")
    message, ticket, contact = data.get("message") or {}, data.get("ticket") or {}, data.get("contact") or {}
    if ticket.get("isGroup") or contact.get("isGroup"):
        return ignored("C", "group")
    kind = media_kind(message.get("mediaType"))
    if kind is None:
        return ignored("C", "not_a_message")
    phone, digits = normalize_phone(contact.get("number"))
    return Inbound(
        kind="message",
        variant="C",
        external_id=str(message.get("wid") or message.get("id") or ""),
        phone=phone,
        wa_id=digits,
        name=clean_text(contact.get("name")),
        text=clean_text(message.get("body")) if kind in ("text", "image", "video", "document") else "",
        media_kind=kind,
        from_me=bool(message.get("fromMe")),
        timestamp=parse_timestamp(message.get("createdAt")),
        ticket_id=str(ticket.get("id") or ""),
        ticket_status=str(ticket.get("status") or ""),
        agent_id=str(ticket.get("userId") or ""),
    )


def _variant_c_ticket(data: dict) -> Inbound:
    ticket, contact = data.get("ticket") or {}, data.get("ticket", {}).get("contact") or data.get("contact") or {}
    phone, digits = normalize_phone(contact.get("number"))
    if ticket.get("isGroup"):
        return ignored("C", "group")
    return Inbound(
        kind="ticket",
        variant="C",
        phone=phone,
        wa_id=digits,
        ticket_id=str(ticket.get("id") or ""),
        ticket_status=str(ticket.get("status") or ""),
        agent_id=str(ticket.get("userId") or ""),
    )


# --- variant D: Whazing nested business payload -----------------------------------------------


def _variant_d(data: dict) -> Inbound:
    ticket, contact, user = data.get("ticket") or {}, data.get("contact") or {}, data.get("user") or {}
    if ticket.get("isGroup") or contact.get("isGroup"):
        return ignored("D", "group")
    phone, digits = normalize_phone(contact.get("phoneNumber"))
    event_type = data.get("Type")
    if event_type:
        status = "closed" if event_type == "ClosedTicket" else str(ticket.get("status") or "")
        agent = str(ticket.get("userId") or "")
        if event_type == "TransferTicket" and agent:
            status = "open"
        return Inbound(
            kind="ticket",
            variant="D",
            phone=phone,
            wa_id=digits,
            ticket_id=str(ticket.get("id") or ""),
            ticket_status=status,
            agent_id=agent,
        )
    if data.get("isDeleted") or data.get("edited"):
        return ignored("D", "not_a_message")
    kind = media_kind(data.get("mediaType"))
    if kind is None:
        return ignored("D", "not_a_message")
    from_me = bool(data.get("fromMe"))
    return Inbound(
        kind="message",
        variant="D",
        external_id=str(data.get("messageId") or ""),
        phone=phone,
        wa_id=digits,
        lid=str(contact["lid"]) if contact.get("lid") else None,
        name=clean_text(contact.get("name") or contact.get("pushname")),
        text=clean_text(data.get("messageBody")),
        media_kind=kind,
        from_me=from_me,
        timestamp=parse_timestamp(data.get("timestamp")),
        ticket_id=str(ticket.get("id") or ""),
        ticket_status=str(ticket.get("status") or ""),
        agent_id=str(user.get("id") or ticket.get("userId") or ""),
        typed_by_person=from_me and (bool(user) or data.get("sendType") == "manual"),
    )


# --- variant E: our flat relay shape ----------------------------------------------------------


def _variant_e(data: dict) -> Inbound:
    if data.get("isGroup"):
        return ignored("E", "group")
    kind = media_kind(data.get("mediaType"))
    if kind is None:
        return ignored("E", "not_a_message")
    phone, digits = normalize_phone(data.get("number"))
    return Inbound(
        kind="message",
        variant="E",
        external_id=str(data.get("messageId") or ""),
        phone=phone,
        wa_id=digits,
        name=clean_text(data.get("name")),
        text=clean_text(data.get("body")),
        media_kind=kind,
        from_me=bool(data.get("fromMe")),
        timestamp=parse_timestamp(data.get("timestamp")),
        ticket_id=str(data.get("ticketId") or ""),
        ticket_status=str(data.get("ticketStatus") or ""),
        agent_id=str(data.get("userId") or ""),
    )


def parse_payload(data) -> Inbound:
    """Detect the shape (A, B, C, D, E in that order) and normalise it."""
    if not isinstance(data, dict):
        raise UnknownShape("unknown payload shape: not a JSON object")
    contact = data.get("contact")
    if "key" in data and "message" in data:
        result = _variant_a(data)
    elif "event" in data and "data" in data:
        result = _variant_b(data)
    elif "action" in data and "message" in data and "ticket" in data:
        result = _variant_c(data)
    elif data.get("action") == "update" and isinstance(data.get("ticket"), dict):
        result = _variant_c_ticket(data)
    elif "messageBody" in data or (isinstance(contact, dict) and "phoneNumber" in contact):
        result = _variant_d(data)
    elif "number" in data and "body" in data:
        result = _variant_e(data)
    else:
        raise UnknownShape("unknown payload shape")
    if result.kind == "message":
        if not result.external_id:
            raise UnknownShape("message without an id")
        if result.phone is None and result.lid is None:
            raise UnknownShape("message without a phone number")
    return result

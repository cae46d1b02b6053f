"""Webhook payloads of every Whaticket variant (contract §3.3-3.7) and an emitter that posts
them to our intake in each auth mode. Shared by tests, benchmarks and the demo."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import requests

LRM = "\u200e"


def new_id() -> str:
    return uuid.uuid4().hex[:20].upper()


def variant_a(
    *,
    number: str = "5511987654321",
    text: str | None = "Bom dia! Tem horário com a Dra. Ana na sexta?",
    message_id: str | None = None,
    name: str = "Maria Souza",
    from_me: bool = False,
    message: dict | None = None,
    jid_suffix: str = "@s.whatsapp.net",
    timestamp=None,
    key_extra: dict | None = None,
) -> dict:
    key = {"remoteJid": f"{number}{jid_suffix}", "fromMe": from_me, "id": message_id or new_id()}
    key.update(key_extra or {})
    return {
        "key": key,
        "messageTimestamp": timestamp if timestamp is not None else int(time.time()),
        "pushName": name,
        "broadcast": False,
        "message": message if message is not None else {"conversation": text},
    }


def voice_note_a(**kwargs) -> dict:
    audio = {"mimetype": "audio/ogg; codecs=opus", "seconds": 7, "ptt": True, "url": "https://mmg.whatsapp.net/x"}
    return variant_a(message={"audioMessage": audio}, **kwargs)


def image_a(caption: str = "", **kwargs) -> dict:
    return variant_a(message={"imageMessage": {"mimetype": "image/jpeg", "caption": caption}}, **kwargs)


def variant_b(
    *,
    number: str = "5511987654321",
    text: str = "Bom dia! Tem horário na sexta?",
    message_id: str | None = None,
    event: str = "message_received",
    from_me: bool = False,
    media_type: str = "chat",
    ticket_id: int = 812,
) -> dict:
    return {
        "event": event,
        "timestamp": "2025-03-14T13:02:11.512Z",
        "connectionId": 3,
        "connectionName": "Recepção",
        "connectionNumber": "5511933334444",
        "data": {
            "messageId": message_id or new_id(),
            "body": text,
            "fromMe": from_me,
            "mediaType": media_type,
            "hasMedia": media_type != "chat",
            "timestamp": int(time.time()),
            "ticketId": ticket_id,
            "contact": {"id": 455, "name": "Maria Souza", "number": number},
            "media": None,
        },
    }


def ticket_updated_b(*, number: str, new_status: str = "open", new_user_id: int | None = 7, ticket_id: int = 812):
    return {
        "event": "ticket_updated",
        "timestamp": "2025-03-14T13:05:00.000Z",
        "connectionId": 3,
        "data": {
            "ticketId": ticket_id,
            "contactNumber": number,
            "oldStatus": "pending",
            "newStatus": new_status,
            "oldUserId": None,
            "newUserId": new_user_id,
            "queueId": 2,
            "isGroup": False,
            "changes": ["status", "userId"],
        },
    }


def ticket_closed_b(*, number: str, ticket_id: int = 812) -> dict:
    return {
        "event": "ticket_closed",
        "timestamp": "2025-03-14T14:00:00.000Z",
        "connectionId": 3,
        "data": {"ticketId": ticket_id, "contactNumber": number, "closedBy": 7, "duration": 600, "messageCount": 9},
    }


def variant_c(
    *,
    number: str = "5511987654321",
    text: str = "Quero remarcar minha consulta",
    message_id: str | None = None,
    from_me: bool = False,
    status: str = "pending",
    user_id: int | None = None,
    is_group: bool = False,
    ticket_id: int = 812,
) -> dict:
    return {
        "action": "create",
        "message": {
            "id": message_id or new_id(),
            "body": text,
            "fromMe": from_me,
            "mediaType": "chat",
            "mediaUrl": None,
            "read": False,
            "ack": 0,
            "ticketId": ticket_id,
            "contactId": 455,
            "createdAt": "2025-03-14T13:02:11.512Z",
        },
        "ticket": {
            "id": ticket_id,
            "status": status,
            "userId": user_id,
            "isGroup": is_group,
            "queueId": 2,
            "whatsappId": 1,
            "unreadMessages": 1,
            "lastMessage": text,
        },
        "contact": {"id": 455, "name": "Maria Souza", "number": number, "isGroup": is_group},
    }


def variant_d(
    *,
    number: str = "5511987654321",
    text: str = "Vocês atendem Unimed?",
    message_id: str | None = None,
    from_me: bool = False,
    status: str = "pending",
    user: dict | None = None,
    event_type: str | None = None,
    ticket_user_id: int | None = None,
    is_group: bool = False,
) -> dict:
    payload = {
        "messageId": message_id or new_id(),
        "messageBody": text,
        "timestamp": int(time.time() * 1000),
        "status": "received",
        "fromMe": from_me,
        "mediaType": "chat",
        "mediaUrl": None,
        "mediaBase64": None,
        "isDeleted": False,
        "sendType": None,
        "edited": False,
        "ticket": {
            "id": 812,
            "status": status,
            "protocol": "20250314-812",
            "queueId": 2,
            "apiConfig": None,
            "isGroup": is_group,
            "userId": ticket_user_id,
        },
        "contact": {
            "id": 455,
            "name": "Maria Souza",
            "phoneNumber": number,
            "pushname": "Maria",
            "isGroup": is_group,
            "lid": None,
        },
        "contactmessage": None,
        "user": user,
        "whatsapp": {"id": 3, "name": "Recepção"},
    }
    if event_type:
        payload["Type"] = event_type
    return payload


def variant_e(
    *,
    number: str = "5511987654321",
    text: str = "Oi, queria marcar uma consulta",
    message_id: str | None = None,
    name: str = "Maria Souza",
    from_me: bool = False,
    media_type: str = "chat",
    ticket_id: int | None = None,
    ticket_status: str | None = None,
    user_id: int | None = None,
) -> dict:
    payload = {
        "messageId": message_id or new_id(),
        "number": number,
        "name": name,
        "body": text,
        "mediaType": media_type,
        "fromMe": from_me,
        "isGroup": False,
        "timestamp": int(time.time()),
    }
    if ticket_id is not None:
        payload["ticketId"] = ticket_id
    if ticket_status is not None:
        payload["ticketStatus"] = ticket_status
    if user_id is not None:
        payload["userId"] = user_id
    return payload


def sign(secret: str, raw: bytes, timestamp: int | None = None) -> dict:
    """Headers of an `hmac`-mode delivery."""
    from conversations.intake import signature

    ts = str(int(timestamp if timestamp is not None else time.time()))
    return {"X-Timestamp": ts, "X-Signature": signature(secret, ts, raw)}


@dataclass
class WebhookEmitter:
    """Posts payloads to a running server's intake, as a clinic's Whaticket or relay would."""

    base_url: str
    host: str
    mode: str = "hmac"
    secret: str = ""
    token: str = ""
    session: requests.Session | None = None

    def post(
        self, payload, *, timestamp: int | None = None, extra_headers: dict | None = None, raw: bytes | None = None
    ):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Host": self.host, "Content-Type": "application/json"}
        path = "/webhook/whaticket"
        if self.mode == "hmac":
            headers.update(sign(self.secret, body, timestamp))
        elif self.mode == "header_token":
            headers["X-Webhook-Token"] = self.token
        elif self.mode == "url_token":
            path = f"/webhook/whaticket/{self.token}"
        headers.update(extra_headers or {})
        session = self.session or requests
        return session.post(self.base_url + path, data=body, headers=headers, timeout=10)

"""A fake Cal.com API v2 on 127.0.0.1 (contracts/calcom.md §7), and a signed webhook sender.

Event types have weekly hours in a host time zone; slots are computed from them minus the
bookings held here. Faults on demand: 500s, 429s, slow replies, the 409 race.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests

from secretaria.testing.http_fake import LocalHTTPFake

TAKEN = "User either already has booking at this time or is not available"


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(value: str) -> datetime:
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class EventType:
    id: int
    title: str
    slug: str
    length: int
    host: str = "Dra. Ana Lima"
    time_zone: str = "America/Sao_Paulo"
    hours: tuple = ((9, 12), (13, 17))  # local, Monday to Friday
    hidden: bool = False


@dataclass
class Fault:
    status: int = 500
    delay: float = 0.0
    message: str = "Internal server error."
    code: str = "INTERNAL_SERVER_ERROR"


@dataclass
class FakeCalcom(LocalHTTPFake):
    api_key: str = "cal_live_fake_key_0123456789"
    event_types: dict = field(default_factory=dict)
    bookings: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    race_409: bool = False

    def __post_init__(self):
        self._lock = threading.Lock()
        self._next_id = 48000
        if not self.event_types:
            self.add_event_type(EventType(1234, "Consulta", "consulta", 30))
            self.add_event_type(EventType(1235, "Retorno", "retorno", 20, hidden=True))

    def add_event_type(self, event_type: EventType) -> None:
        self.event_types[event_type.id] = event_type

    def add_fault(self, times: int = 1, **kwargs) -> None:
        with self._lock:
            self.faults.extend(Fault(**kwargs) for _ in range(times))

    # --- domain -----------------------------------------------------------------------------------
    def free_starts(self, event_type: EventType, start: datetime, end: datetime, *, ignore_uid: str = "") -> list:
        tz = ZoneInfo(event_type.time_zone)
        busy = [
            (b["_start"], b["_end"])
            for b in self.bookings.values()
            if b["status"] in ("accepted", "pending") and b["uid"] != ignore_uid
        ]
        now = datetime.now(UTC)
        found = []
        day = start.astimezone(tz).date()
        while datetime.combine(day, datetime.min.time(), tzinfo=tz) <= end:
            if day.weekday() < 5:
                for first, last in event_type.hours:
                    cursor = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=first)
                    close = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=last)
                    length = timedelta(minutes=event_type.length)
                    while cursor + length <= close:
                        slot_end = cursor + length
                        if (
                            start <= cursor <= end
                            and cursor > now
                            and not any(b < slot_end and e > cursor for b, e in busy)
                        ):
                            found.append(cursor.astimezone(UTC))
                        cursor += length
            day += timedelta(days=1)
        return found

    def booking_output(self, booking: dict) -> dict:
        return {key: value for key, value in booking.items() if not key.startswith("_")}

    def _new_booking(self, event_type: EventType, start: datetime, attendee: dict, metadata: dict) -> dict:
        self._next_id += 1
        end = start + timedelta(minutes=event_type.length)
        stamp = _iso_ms(datetime.now(UTC))
        return {
            "id": self._next_id,
            "uid": secrets.token_urlsafe(16)[:22],
            "title": f"{event_type.title} entre {event_type.host} e {attendee.get('name', '')}",
            "description": "",
            "hosts": [
                {
                    "id": 77,
                    "name": event_type.host,
                    "email": "ana@clinica.example.com.br",
                    "displayEmail": "ana@clinica.example.com.br",
                    "username": "dra-ana",
                    "timeZone": event_type.time_zone,
                }
            ],
            "status": "accepted",
            "start": _iso_ms(start),
            "end": _iso_ms(end),
            "duration": event_type.length,
            "eventTypeId": event_type.id,
            "eventType": {"id": event_type.id, "slug": event_type.slug},
            "location": "Rua Augusta, 1500 - São Paulo",
            "absentHost": False,
            "createdAt": stamp,
            "updatedAt": stamp,
            "metadata": metadata,
            "bookingFieldsResponses": {
                "name": attendee.get("name", ""),
                "email": attendee.get("email", ""),
                **({"attendeePhoneNumber": attendee["phoneNumber"]} if attendee.get("phoneNumber") else {}),
            },
            "attendees": [
                {
                    **attendee,
                    "displayEmail": attendee.get("email", ""),
                    "language": attendee.get("language", "pt-BR"),
                    "absent": False,
                }
            ],
            "_start": start,
            "_end": end,
        }

    # --- HTTP -------------------------------------------------------------------------------------
    def _reply(self, handler, status: int, body: dict, path: str = "") -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("X-RateLimit-Limit-Default", "120")
        handler.send_header("X-RateLimit-Remaining-Default", "119")
        handler.send_header("X-RateLimit-Reset-Default", "60")
        handler.end_headers()
        handler.wfile.write(payload)

    def _error(self, handler, status: int, code: str, message: str, path: str) -> None:
        body = {
            "status": "error",
            "timestamp": _iso_ms(datetime.now(UTC)),
            "path": path,
            "error": {"code": code, "message": message, "details": {"message": message, "statusCode": status}},
        }
        self._reply(handler, status, body)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        body = json.loads(raw) if raw else {}
        with self._lock:
            self.requests.append(
                {"method": method, "path": parts.path, "query": query, "headers": dict(handler.headers), "json": body}
            )
            fault = self.faults.pop(0) if self.faults else None
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            code = "ThrottlerException" if fault.status == 429 else fault.code
            message = "Too many requests. Please try again later." if fault.status == 429 else fault.message
            return self._error(handler, fault.status, code, message, handler.path)
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(handler, 401, "UnauthorizedException", "Invalid API Key", handler.path)
        version = handler.headers.get("cal-api-version", "")
        if parts.path == "/v2/slots" and method == "GET":
            if version != "2024-09-04":
                return self._error(handler, 404, "NotFoundException", f"Cannot GET {handler.path}", handler.path)
            return self._slots(handler, query)
        if parts.path.startswith("/v2/bookings"):
            if version != "2024-08-13":
                return self._error(handler, 400, "BadRequestException", "start must be a valid ISO 8601", handler.path)
            return self._bookings(handler, method, parts.path, query, body)
        if parts.path == "/v2/event-types" and method == "GET":
            data = [
                {"id": e.id, "title": e.title, "slug": e.slug, "lengthInMinutes": e.length, "hidden": e.hidden}
                for e in self.event_types.values()
            ]
            return self._reply(handler, 200, {"status": "success", "data": data})
        return self._error(handler, 404, "NotFoundException", f"Cannot {method} {parts.path}", handler.path)

    def _slots(self, handler, query) -> None:
        event_type = self.event_types.get(int(query.get("eventTypeId", 0) or 0))
        if event_type is None:
            return self._error(handler, 404, "NotFoundException", "Event Type not found", handler.path)
        start = _parse(query["start"])
        end = (
            _parse(query["end"])
            if len(query["end"]) > 10
            else _parse(query["end"]) + timedelta(hours=23, minutes=59, seconds=59)
        )
        zone = ZoneInfo(query.get("timeZone", "UTC"))
        data: dict = {}
        for slot in self.free_starts(event_type, start, end, ignore_uid=query.get("bookingUidToReschedule", "")):
            local = slot.astimezone(zone)
            item = {"start": local.isoformat(timespec="milliseconds")}
            if query.get("format") == "range":
                item["end"] = (local + timedelta(minutes=event_type.length)).isoformat(timespec="milliseconds")
            data.setdefault(local.date().isoformat(), []).append(item)
        return self._reply(handler, 200, {"data": data, "status": "success"})

    def _bookings(self, handler, method, path, query, body) -> None:
        segments = path.strip("/").split("/")
        with self._lock:
            if method == "POST" and len(segments) == 2:
                return self._create(handler, body)
            if method == "GET" and len(segments) == 2:
                return self._list(handler, query)
            booking = self.bookings.get(segments[2]) if len(segments) >= 3 else None
            if booking is None:
                return self._error(
                    handler, 404, "NotFoundException", f"Booking with uid={segments[-1]} not found", path
                )
            if method == "GET" and len(segments) == 3:
                return self._reply(handler, 200, {"status": "success", "data": self.booking_output(booking)})
            if method == "POST" and segments[3] == "cancel":
                if booking["status"] == "cancelled":
                    return self._error(
                        handler, 400, "BadRequestException", "This booking has already been cancelled.", path
                    )
                booking["status"] = "cancelled"
                booking["cancellationReason"] = body.get("cancellationReason", "")
                return self._reply(handler, 200, {"status": "success", "data": self.booking_output(booking)})
            if method == "POST" and segments[3] == "reschedule":
                event_type = self.event_types[booking["eventTypeId"]]
                start = _parse(body["start"])
                free = self.free_starts(event_type, start, start, ignore_uid=booking["uid"])
                if start not in free:
                    return self._error(handler, 400, "BadRequestException", TAKEN, path)
                new = self._new_booking(event_type, start, booking["attendees"][0], booking["metadata"])
                new["rescheduledFromUid"] = booking["uid"]
                booking["status"] = "cancelled"
                booking["rescheduledToUid"] = new["uid"]
                self.bookings[new["uid"]] = new
                return self._reply(handler, 201, {"status": "success", "data": self.booking_output(new)})
        return self._error(handler, 404, "NotFoundException", f"Cannot {method} {path}", path)

    def _create(self, handler, body) -> None:
        attendee = body.get("attendee") or {}
        problems = []
        if not attendee.get("name"):
            problems.append("attendee.name should not be empty")
        try:
            ZoneInfo(attendee.get("timeZone", ""))
        except Exception:  # noqa: BLE001
            problems.append("attendee.timeZone must be a valid IANA time zone")
        if not (attendee.get("email") or attendee.get("phoneNumber")):
            problems.append("attendee.email or attendee.phoneNumber is required")
        metadata = body.get("metadata") or {}
        if len(metadata) > 50 or any(len(k) > 40 or len(str(v)) > 500 for k, v in metadata.items()):
            problems.append("metadata exceeds the limits")
        if problems:
            return self._error(
                handler, 400, "BadRequestException", "Bad Request Exception; " + "; ".join(problems), "/v2/bookings"
            )
        event_type = self.event_types.get(body.get("eventTypeId"))
        if event_type is None:
            return self._error(
                handler,
                404,
                "NotFoundException",
                f"Event type with id {body.get('eventTypeId')} not found.",
                "/v2/bookings",
            )
        start = _parse(body["start"])
        if start <= datetime.now(UTC):
            return self._error(
                handler, 400, "BadRequestException", "Attempting to book a meeting in the past.", "/v2/bookings"
            )
        if start not in self.free_starts(event_type, start, start):
            status = 409 if self.race_409 else 400
            code = "ConflictException" if self.race_409 else "BadRequestException"
            return self._error(handler, status, code, TAKEN, "/v2/bookings")
        booking = self._new_booking(event_type, start, attendee, metadata)
        self.bookings[booking["uid"]] = booking
        return self._reply(handler, 201, {"status": "success", "data": self.booking_output(booking)})

    def _list(self, handler, query) -> None:
        rows = sorted(self.bookings.values(), key=lambda b: b["_start"])
        if "afterStart" in query:
            rows = [b for b in rows if b["_start"] >= _parse(query["afterStart"])]
        if "beforeEnd" in query:
            rows = [b for b in rows if b["_end"] <= _parse(query["beforeEnd"])]
        take, skip = int(query.get("take", 100)), int(query.get("skip", 0))
        page = rows[skip : skip + take]
        pagination = {
            "totalItems": len(rows),
            "remainingItems": max(0, len(rows) - skip - len(page)),
            "returnedItems": len(page),
            "itemsPerPage": take,
            "currentPage": skip // take + 1 if take else 1,
            "hasNextPage": skip + len(page) < len(rows),
            "hasPreviousPage": skip > 0,
        }
        data = [self.booking_output(b) for b in page]
        return self._reply(handler, 200, {"status": "success", "data": data, "pagination": pagination})

    # --- webhooks -----------------------------------------------------------------------------------
    def webhook_body(self, trigger: str, booking: dict, **extra) -> dict:
        """A Cal.com webhook envelope (payload version 2021-10-20) for a booking held here."""
        if trigger in ("MEETING_STARTED", "MEETING_ENDED"):
            return {
                "triggerEvent": trigger,
                "id": booking["id"],
                "uid": booking["uid"],
                "startTime": booking["start"],
                "endTime": booking["end"],
                "status": booking["status"].upper(),
                "metadata": booking.get("metadata") or {},
                "attendees": booking["attendees"],
                "createdAt": booking["createdAt"],
            }
        payload = {
            "type": self.event_types[booking["eventTypeId"]].slug,
            "title": booking["title"],
            "eventTypeId": booking["eventTypeId"],
            "startTime": booking["start"],
            "endTime": booking["end"],
            "attendees": booking["attendees"],
            "organizer": {"id": 77, "name": booking["hosts"][0]["name"], "timeZone": "America/Sao_Paulo"},
            "uid": booking["uid"],
            "bookingId": booking["id"],
            "length": booking["duration"],
            "status": booking["status"].upper(),
        }
        if trigger != "BOOKING_CANCELLED":
            payload["metadata"] = booking.get("metadata") or {}
        payload.update(extra)
        return {"triggerEvent": trigger, "createdAt": _iso_ms(datetime.now(UTC)), "payload": payload}


def calcom_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_calcom_webhook(base_url: str, host: str, body: dict, *, secret: str | None, signature: str | None = None):
    """POST a webhook as Cal.com does: compact JSON, X-Cal-Signature-256, no redirects followed."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Host": host, "Content-Type": "application/json", "X-Cal-Webhook-Version": "2021-10-20"}
    headers["X-Cal-Signature-256"] = signature or (calcom_signature(secret, raw) if secret else "no-secret-provided")
    return requests.post(f"{base_url}/webhook/calcom", data=raw, headers=headers, timeout=10, allow_redirects=False)

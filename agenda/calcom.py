"""The Cal.com API v2 client. Nothing else in the project knows a Cal.com URL or field name.

Versions per endpoint family, local days asked as explicit UTC instants, a stable synthetic
email per WhatsApp patient, "slot taken" (400 or 409) mapped to SlotTaken, the error
envelope read, a token bucket per API key in Redis (Cal.com allows 120 requests/min),
timeouts, and retries with backoff on 5xx and transport errors.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from django.conf import settings

from agenda.backend import AgendaError, AgendaUnavailable, SlotTaken, SlotUnavailable
from secretaria.redis import get_redis

log = logging.getLogger(__name__)
_session = requests.Session()

VERSION_SLOTS = "2024-09-04"
VERSION_BOOKINGS = "2024-08-13"
VERSION_EVENT_TYPES = "2024-06-14"
RATE_PER_MINUTE = 100  # below Cal.com's 120/min per key, leaving room for the painel and other tools
RETRIES = 2
TAKEN_HINTS = ("already has booking", "not available")


class CalcomError(AgendaError):
    """Cal.com refused the request for a reason that retrying will not fix."""


@dataclass(frozen=True)
class CalcomConfig:
    api_url: str
    api_key: str

    @property
    def configured(self) -> bool:
        return bool(self.api_url and self.api_key)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CalcomSlot:
    start: datetime  # aware, UTC
    end: datetime | None


@dataclass(frozen=True)
class CalcomBooking:
    uid: str
    id: int | None
    status: str  # accepted, pending, cancelled, rejected
    start: datetime
    end: datetime
    event_type_id: int | None
    metadata: dict
    attendee_name: str = ""
    attendee_phone: str = ""
    attendee_email: str = ""
    rescheduled_to_uid: str = ""
    rescheduled_from_uid: str = ""


def attendee_email(phone_e164: str) -> str:
    """The stable synthetic address of a WhatsApp patient, on a domain we control."""
    digits = "".join(ch for ch in phone_e164 if ch.isdigit())
    return f"wa-{digits}@{settings.CALCOM_ATTENDEE_EMAIL_DOMAIN}"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo("UTC"))


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- rate limit -------------------------------------------------------------------------------------


def _take_token(config: CalcomConfig) -> None:
    """A token bucket per API key, shared by every worker through Redis."""
    key = f"secretaria:calcom:bucket:{config.key_id}:{int(time.time() // 60)}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
    except Exception:  # noqa: BLE001 - without Redis, go on (Cal.com will answer 429 if we overdo it)
        return
    if count > RATE_PER_MINUTE:
        raise AgendaUnavailable("A agenda está ocupada no momento. Tente novamente em um minuto.")


# --- transport ----------------------------------------------------------------------------------------


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")[:300]
    return str(body.get("message", ""))[:300] if isinstance(body, dict) else ""


def _request(config: CalcomConfig, method: str, path: str, *, version: str | None, **kwargs) -> dict:
    if not config.configured:
        raise AgendaUnavailable("O Cal.com não está configurado para esta clínica.")
    headers = {"Authorization": f"Bearer {config.api_key}"}
    if version:
        headers["cal-api-version"] = version
    url = config.api_url.rstrip("/") + path
    for attempt in range(RETRIES + 1):
        _take_token(config)
        try:
            response = _session.request(
                method, url, headers=headers, timeout=settings.REQUEST_TIMEOUT_SECONDS, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            if attempt < RETRIES and method == "GET":
                time.sleep(0.5 * (2**attempt) * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                continue
            raise AgendaUnavailable() from exc
        if response.status_code >= 500 and attempt < RETRIES and method == "GET":
            time.sleep(0.5 * (2**attempt) * random.uniform(0.8, 1.2))  # noqa: S311
            continue
        return _check(response)
    raise AgendaUnavailable()


def _check(response: requests.Response) -> dict:
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError as exc:
            raise AgendaUnavailable("O Cal.com respondeu algo inesperado.") from exc
    message = _message(response)
    if status in (400, 409) and any(hint in message for hint in TAKEN_HINTS):
        raise SlotTaken()
    if status == 400 and ("can't be booked" in message or "in the past" in message):
        raise SlotUnavailable()
    if status == 429:
        raise AgendaUnavailable("A agenda está ocupada no momento. Tente novamente em um minuto.")
    if status >= 500:
        raise AgendaUnavailable()
    if status in (401, 403):
        log.error("Cal.com refused the API key (HTTP %s): %s", status, message)
        raise AgendaUnavailable("A integração com o Cal.com está sem autorização; avise a clínica.")
    raise CalcomError(f"Cal.com: {message or f'HTTP {status}'}")


def _booking(data: dict) -> CalcomBooking:
    attendees = data.get("attendees") or [{}]
    first = attendees[0] if attendees else {}
    return CalcomBooking(
        uid=str(data["uid"]),
        id=data.get("id"),
        status=str(data.get("status", "")).lower(),
        start=parse_time(data["start"]),
        end=parse_time(data["end"]),
        event_type_id=data.get("eventTypeId"),
        metadata=data.get("metadata") or {},
        attendee_name=first.get("name", ""),
        attendee_phone=first.get("phoneNumber", "") or "",
        attendee_email=first.get("email", ""),
        rescheduled_to_uid=data.get("rescheduledToUid") or "",
        rescheduled_from_uid=data.get("rescheduledFromUid") or "",
    )


# --- API ----------------------------------------------------------------------------------------------


def slots(
    config: CalcomConfig, *, event_type_id: int, first_day: date, last_day: date, time_zone: str
) -> list[CalcomSlot]:
    """Free slots of the local days [first_day, last_day], asked as explicit UTC instants."""
    tz = ZoneInfo(time_zone)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz) - timedelta(seconds=1)
    body = _request(
        config,
        "GET",
        "/v2/slots",
        version=VERSION_SLOTS,
        params={
            "eventTypeId": event_type_id,
            "start": _utc_iso(start),
            "end": _utc_iso(end),
            "timeZone": time_zone,
            "format": "range",
        },
    )
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise AgendaUnavailable("O Cal.com respondeu algo inesperado.")
    found = []
    for items in data.values():
        for item in items:
            found.append(
                CalcomSlot(start=parse_time(item["start"]), end=parse_time(item["end"]) if item.get("end") else None)
            )
    return sorted(found, key=lambda slot: slot.start)


def booking_create(
    config: CalcomConfig,
    *,
    event_type_id: int,
    start: datetime,
    name: str,
    phone: str,
    time_zone: str,
    metadata: dict,
    email: str = "",
) -> CalcomBooking:
    attendee = {
        "name": name,
        "timeZone": time_zone,
        "email": email
        or (
            attendee_email(phone)
            if phone
            else f"paciente-{metadata.get('appointmentId', 'x')}@{settings.CALCOM_ATTENDEE_EMAIL_DOMAIN}"
        ),
        "language": "pt-BR",
    }
    if phone:
        attendee["phoneNumber"] = phone
    body = _request(
        config,
        "POST",
        "/v2/bookings",
        version=VERSION_BOOKINGS,
        json={
            "start": _utc_iso(start),
            "eventTypeId": event_type_id,
            "attendee": attendee,
            "metadata": {key: str(value)[:500] for key, value in metadata.items()},
        },
    )
    return _booking(body["data"])


def booking_get(config: CalcomConfig, *, uid: str) -> CalcomBooking:
    body = _request(config, "GET", f"/v2/bookings/{uid}", version=VERSION_BOOKINGS)
    data = body["data"]
    return _booking(data[0] if isinstance(data, list) else data)


def booking_cancel(config: CalcomConfig, *, uid: str, reason: str = "") -> None:
    try:
        _request(
            config, "POST", f"/v2/bookings/{uid}/cancel", version=VERSION_BOOKINGS, json={"cancellationReason": reason}
        )
    except CalcomError:
        # Cancelling an already-cancelled booking is an error there, a success for us.
        if booking_get(config, uid=uid).status != "cancelled":
            raise


def booking_reschedule(config: CalcomConfig, *, uid: str, start: datetime, reason: str = "") -> CalcomBooking:
    body = _request(
        config,
        "POST",
        f"/v2/bookings/{uid}/reschedule",
        version=VERSION_BOOKINGS,
        json={"start": _utc_iso(start), "reschedulingReason": reason or "Paciente pediu outro horário"},
    )
    return _booking(body["data"])


def bookings_list(config: CalcomConfig, *, after: datetime, before: datetime) -> list[CalcomBooking]:
    """Every booking starting in [after, before), all pages."""
    found, skip = [], 0
    while True:
        body = _request(
            config,
            "GET",
            "/v2/bookings",
            version=VERSION_BOOKINGS,
            params={"afterStart": _utc_iso(after), "beforeEnd": _utc_iso(before), "take": 100, "skip": skip},
        )
        page = body.get("data") or []
        found.extend(_booking(item) for item in page)
        pagination = body.get("pagination") or {}
        if not pagination.get("hasNextPage") or not page:
            return found
        skip += len(page)

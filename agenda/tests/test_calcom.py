"""The Cal.com backend and webhook, over HTTP against the fake Cal.com."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agenda import calcom, services
from agenda.backend import AgendaUnavailable, SlotTaken, get_backend
from agenda.calcom_webhooks import delivery_process
from agenda.models import AgendaSettings, Appointment, CalcomDelivery, CalcomEventType, Professional, Service
from agenda.tests.conftest import MONDAY
from conversations.models import Contact, Message
from secretaria.testing.fake_calcom import FakeCalcom

WEBHOOK_SECRET = "segredo-clinica-sorriso"


@pytest.fixture(scope="module")
def fake():
    with FakeCalcom() as running:
        yield running


@pytest.fixture
def calcom_clinic(db, clinics, fake, settings):
    from secretaria.redis import get_redis

    for key in get_redis().scan_iter("secretaria:calcom:*"):
        get_redis().delete(key)
    fake.bookings.clear()
    fake.requests.clear()
    fake.faults.clear()
    fake.race_409 = False
    settings.REQUEST_TIMEOUT_SECONDS = 2
    connection.set_tenant(clinics.alfa)
    timezone.activate("America/Sao_Paulo")
    AgendaSettings.objects.all().delete()
    AgendaSettings.objects.create(
        backend="calcom",
        calcom_api_url=fake.url,
        calcom_api_key=fake.api_key,
        calcom_webhook_secret=WEBHOOK_SECRET,
        min_notice_minutes=0,
        reminder_offsets_hours=[24],
    )
    consulta = Service.objects.create(name="Consulta", duration_minutes=30)
    ana = Professional.objects.create(name="Dra. Ana Lima")
    ana.services.set([consulta])
    CalcomEventType.objects.create(professional=ana, service=consulta, event_type_id=1234, slug="consulta")
    yield {"consulta": consulta, "ana": ana}
    timezone.deactivate()
    connection.set_schema_to_public()


def _at(hour, minute=0):
    return datetime.combine(MONDAY, datetime.min.time(), tzinfo=timezone.get_current_timezone()) + timedelta(
        hours=hour, minutes=minute
    )


def test_the_contract_signature_test_vector():
    body = b'{"triggerEvent":"PING","createdAt":"2026-05-10T14:00:00.000Z","payload":{}}'
    assert hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest() == (
        "d2af933df068625108386f6a152e8333ce89915d9a76990ae4c6bf8a2a7e9c65"
    )


def test_slots_ask_the_local_day_as_utc_instants(calcom_clinic, fake):
    slots = get_backend().availability(first_day=MONDAY, last_day=MONDAY)
    request = [r for r in fake.requests if r["path"] == "/v2/slots"][0]
    assert request["headers"]["cal-api-version"] == "2024-09-04"
    assert request["query"]["start"] == f"{MONDAY.isoformat()}T03:00:00Z"
    assert request["query"]["end"] == f"{(MONDAY + timedelta(days=1)).isoformat()}T02:59:59Z"
    assert request["query"]["timeZone"] == "America/Sao_Paulo"
    local = [timezone.localtime(s.start).strftime("%H:%M") for s in slots]
    assert local[0] == "09:00" and "12:00" not in local and local[-1] == "16:30"
    # cached for a minute: a second call does not reach Cal.com
    get_backend().availability(first_day=MONDAY, last_day=MONDAY)
    assert len([r for r in fake.requests if r["path"] == "/v2/slots"]) == 1


def test_booking_sends_metadata_synthetic_email_and_phone(calcom_clinic, fake):
    contact = Contact.objects.create(phone="+5511987654321", wa_id="5511987654321", name="Maria Souza")
    appointment = services.appointment_book(
        service=calcom_clinic["consulta"],
        professional=calcom_clinic["ana"],
        start=_at(10),
        patient_name="Maria Souza",
        contact=contact,
        source="whatsapp",
    )
    create = [r for r in fake.requests if r["path"] == "/v2/bookings" and r["method"] == "POST"][0]
    assert create["headers"]["cal-api-version"] == "2024-08-13"
    assert create["json"]["start"] == _at(10).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert create["json"]["attendee"]["email"] == "wa-5511987654321@pacientes.localhost"
    assert create["json"]["attendee"]["phoneNumber"] == "+5511987654321"
    assert create["json"]["metadata"] == {"tenant": "alfa", "appointmentId": str(appointment.pk), "channel": "whatsapp"}
    assert appointment.external_uid in fake.bookings
    # the slot is gone (cache invalidated by the booking)
    starts = [s.start for s in get_backend().availability(first_day=MONDAY, last_day=MONDAY)]
    assert _at(10) not in starts


@pytest.mark.parametrize("race_409", [False, True])
def test_a_slot_taken_at_calcom_is_slot_taken(calcom_clinic, fake, race_409):
    kwargs = {"service": calcom_clinic["consulta"], "professional": calcom_clinic["ana"], "start": _at(11)}
    services.appointment_book(patient_name="Primeira", **kwargs)
    fake.race_409 = race_409
    with pytest.raises(SlotTaken):
        services.appointment_book(patient_name="Segunda", **kwargs)
    assert Appointment.objects.filter(start=_at(11)).count() == 1


def test_calcom_down_or_rate_limited_is_agenda_unavailable_and_a_503(calcom_clinic, fake, client):
    fake.add_fault(times=3, status=500)
    with pytest.raises(AgendaUnavailable):
        get_backend().availability(first_day=MONDAY, last_day=MONDAY)
    fake.add_fault(status=429)
    with pytest.raises(AgendaUnavailable):
        services.appointment_book(
            service=calcom_clinic["consulta"], professional=calcom_clinic["ana"], start=_at(14), patient_name="X"
        )
    assert not Appointment.objects.filter(start=_at(14)).exists()
    from django.core.cache import cache

    cache.clear()
    fake.add_fault(times=3, status=503)
    response = client.get(
        f"/api/agenda/availability?date={(MONDAY + timedelta(days=1)).isoformat()}", headers={"Host": "alfa.localhost"}
    )
    assert response.status_code == 503
    assert response.json()["detail"]


def test_cancel_and_reschedule_at_calcom(calcom_clinic, fake):
    appointment = services.appointment_book(
        service=calcom_clinic["consulta"], professional=calcom_clinic["ana"], start=_at(9), patient_name="Rita"
    )
    new = services.appointment_reschedule(appointment=appointment, new_start=_at(15))
    assert new.external_uid != appointment.external_uid
    assert fake.bookings[appointment.external_uid]["status"] == "cancelled"
    assert fake.bookings[new.external_uid]["rescheduledFromUid"] == appointment.external_uid
    services.appointment_cancel(appointment=new, reason="paciente desistiu")
    assert fake.bookings[new.external_uid]["status"] == "cancelled"


# --- webhooks ---------------------------------------------------------------------------------------


def _post(client, body, *, secret=WEBHOOK_SECRET, signature=None, capture=None):
    raw = json.dumps(body, separators=(",", ":")).encode()
    sig = signature or hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/webhook/calcom",
        data=raw,
        content_type="application/json",
        headers={"Host": "alfa.localhost", "X-Cal-Signature-256": sig},
    )


def _process_all():
    outcomes = []
    for delivery in CalcomDelivery.objects.filter(processed_at=None).order_by("id"):
        outcomes.append(delivery_process(delivery_id=delivery.pk))
    return outcomes


def _direct_booking(fake, hour, phone="+5511911112222", name="Carlos Direto"):
    """A booking made straight in Cal.com's own page."""
    config = calcom.CalcomConfig(api_url=fake.url, api_key=fake.api_key)
    booking = calcom.booking_create(
        config, event_type_id=1234, start=_at(hour), name=name, phone=phone, time_zone="America/Sao_Paulo", metadata={}
    )
    return fake.bookings[booking.uid]


def test_bad_signature_and_no_secret_are_refused(calcom_clinic, client, fake):
    body = {"triggerEvent": "BOOKING_CREATED", "createdAt": "x", "payload": {"uid": "u"}}
    assert _post(client, body, signature="0" * 64).status_code == 401
    assert _post(client, body, signature="no-secret-provided").status_code == 401
    assert not CalcomDelivery.objects.exists()
    connection.set_tenant(connection.tenant)


def test_ping_is_acknowledged_and_nothing_stored(calcom_clinic, client):
    response = _post(client, {"triggerEvent": "PING", "createdAt": "2026-05-10T14:00:00.000Z", "payload": {}})
    assert response.status_code == 200
    assert response.json()["ignored"] == "PING"
    assert not CalcomDelivery.objects.exists()


def test_a_booking_made_in_calcom_appears_once_even_when_delivered_twice(
    calcom_clinic, client, fake, django_capture_on_commit_callbacks
):
    booking = _direct_booking(fake, 13)
    body = fake.webhook_body("BOOKING_CREATED", booking)
    assert _post(client, body).json() == {"ok": True, "queued": True, "duplicate": False}
    assert _post(client, body).json()["duplicate"] is True
    assert _process_all() == ["adopted"]
    appointment = Appointment.objects.get(external_uid=booking["uid"])
    assert (appointment.source, appointment.patient_name, appointment.start) == ("calcom", "Carlos Direto", _at(13))
    assert appointment.contact.phone == "+5511911112222"


def test_reschedule_cancel_no_show_and_meeting_ended(calcom_clinic, client, fake):
    appointment = services.appointment_book(
        service=calcom_clinic["consulta"],
        professional=calcom_clinic["ana"],
        start=_at(9),
        patient_name="Rita",
        contact=Contact.objects.create(phone="+5511933334444", wa_id="5511933334444", name="Rita"),
    )
    old = fake.bookings[appointment.external_uid]
    # rescheduled in Cal.com's page: a new uid, the old one in rescheduleUid
    config = calcom.CalcomConfig(api_url=fake.url, api_key=fake.api_key)
    moved = calcom.booking_reschedule(config, uid=old["uid"], start=_at(16))
    body = fake.webhook_body(
        "BOOKING_RESCHEDULED", fake.bookings[moved.uid], rescheduleUid=old["uid"], rescheduleId=old["id"]
    )
    _post(client, body)
    _post(client, body)
    assert _process_all() == ["rescheduled"]
    appointment.refresh_from_db()
    new = Appointment.objects.get(external_uid=moved.uid)
    assert appointment.status == "cancelled" and new.rescheduled_from_id == appointment.pk and new.start == _at(16)

    # cancelled in Cal.com: the patient is told through the pipeline
    calcom.booking_cancel(config, uid=moved.uid, reason="médica em congresso")
    _post(client, fake.webhook_body("BOOKING_CANCELLED", fake.bookings[moved.uid], cancellationReason="congresso"))
    assert _process_all() == ["cancelled"]
    new.refresh_from_db()
    assert new.status == "cancelled"
    notice = Message.objects.get(kind="notice")
    assert "foi cancelada pela clínica" in notice.body

    other = _direct_booking(fake, 10)
    _post(client, fake.webhook_body("BOOKING_CREATED", other))
    _post(
        client,
        {
            "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
            "createdAt": "x",
            "payload": {
                "message": "marked as no-show",
                "attendees": [{"email": "x", "noShow": True}],
                "bookingUid": other["uid"],
                "bookingId": other["id"],
            },
        },
    )
    assert _process_all() == ["adopted", "no_show"]
    assert Appointment.objects.get(external_uid=other["uid"]).status == "no_show"

    third = _direct_booking(fake, 11)
    _post(client, fake.webhook_body("BOOKING_CREATED", third))
    _post(client, fake.webhook_body("MEETING_ENDED", third))
    assert _process_all() == ["adopted", "completed"]


def test_out_of_order_cancel_before_create_adopts_nothing(calcom_clinic, client, fake):
    booking = _direct_booking(fake, 15)
    config = calcom.CalcomConfig(api_url=fake.url, api_key=fake.api_key)
    created = fake.webhook_body("BOOKING_CREATED", booking)
    calcom.booking_cancel(config, uid=booking["uid"])
    cancelled = fake.webhook_body("BOOKING_CANCELLED", fake.bookings[booking["uid"]])
    _post(client, cancelled)
    _post(client, created)
    assert _process_all() == ["unknown booking", "not active in Cal.com"]
    assert not Appointment.objects.filter(external_uid=booking["uid"]).exists()


def test_no_trailing_slash_redirect_on_the_calcom_webhook(calcom_clinic, client):
    response = client.post(
        "/webhook/calcom", data=b"{}", content_type="application/json", headers={"Host": "alfa.localhost"}
    )
    assert response.status_code == 401


def test_reconciliation_repairs_what_lost_webhooks_left_out_of_step(calcom_clinic, fake):
    from agenda.calcom_webhooks import calcom_reconcile

    ours = services.appointment_book(
        service=calcom_clinic["consulta"], professional=calcom_clinic["ana"], start=_at(9), patient_name="Rita"
    )
    direct = _direct_booking(fake, 14)  # made in Cal.com, its webhook lost
    config = calcom.CalcomConfig(api_url=fake.url, api_key=fake.api_key)
    calcom.booking_cancel(config, uid=ours.external_uid)  # cancelled in Cal.com, webhook lost
    now = _at(0) - timedelta(days=1)
    assert calcom_reconcile(now=now) == {"adopted": 1, "cancelled": 1}
    ours.refresh_from_db()
    assert ours.status == "cancelled"
    assert Appointment.objects.get(external_uid=direct["uid"]).source == "calcom"
    assert calcom_reconcile(now=now) == {"adopted": 0, "cancelled": 0}  # nothing twice


# --- the wire against Cal.com's own OpenAPI schemas -------------------------------------------------


def _validator(name):
    from pathlib import Path

    from openapi_schema_validator import OAS30Validator

    spec = json.loads((Path(__file__).parent / "fixtures" / "calcom_openapi_bookings.json").read_text())
    schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    return OAS30Validator(schema)


def test_our_requests_and_the_fakes_replies_match_calcoms_schemas(calcom_clinic, fake):
    contact = Contact.objects.create(phone="+5511987654321", wa_id="5511987654321", name="Maria Souza")
    appointment = services.appointment_book(
        service=calcom_clinic["consulta"],
        professional=calcom_clinic["ana"],
        start=_at(10),
        patient_name="Maria Souza",
        contact=contact,
        source="whatsapp",
    )
    new = services.appointment_reschedule(appointment=appointment, new_start=_at(11))
    services.appointment_cancel(appointment=new, reason="teste")
    posted = {r["path"].rsplit("/", 1)[-1]: r["json"] for r in fake.requests if r["method"] == "POST"}
    _validator("CreateBookingInput_2024_08_13").validate(posted["bookings"])
    _validator("RescheduleBookingInput_2024_08_13").validate(posted["reschedule"])
    _validator("CancelBookingInput_2024_08_13").validate(posted["cancel"])
    output = _validator("BookingOutput_2024_08_13")
    for booking in fake.bookings.values():
        output.validate(fake.booking_output(booking))


def test_a_manaus_clinic_asks_for_its_own_local_day(calcom_clinic, fake):
    timezone.activate("America/Manaus")
    slots = get_backend().availability(first_day=MONDAY, last_day=MONDAY)
    request = [r for r in fake.requests if r["path"] == "/v2/slots"][-1]
    assert request["query"]["start"] == f"{MONDAY.isoformat()}T04:00:00Z"
    assert request["query"]["end"] == f"{(MONDAY + timedelta(days=1)).isoformat()}T03:59:59Z"
    assert request["query"]["timeZone"] == "America/Manaus"
    # the host works 09:00-17:00 in São Paulo: 08:00 in Manaus
    assert timezone.localtime(slots[0].start).strftime("%H:%M") == "08:00"


def test_requested_then_rejected_bookings(calcom_clinic, client, fake):
    booking = _direct_booking(fake, 16)
    booking["status"] = "pending"
    _post(client, fake.webhook_body("BOOKING_REQUESTED", booking))
    assert _process_all() == ["adopted"]
    booking["status"] = "rejected"
    _post(client, fake.webhook_body("BOOKING_REJECTED", booking))
    assert _process_all() == ["cancelled"]
    assert Appointment.objects.get(external_uid=booking["uid"]).status == "cancelled"

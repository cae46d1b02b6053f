"""One parser for variants A-E of the Whaticket contract, with its normalisation table."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conversations.parsing import UnknownShape, normalize_phone, parse_payload
from secretaria.testing import whaticket_payloads as payloads

FIXTURES = Path(__file__).parent / "fixtures" / "whaticket"


def _fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.mark.parametrize(
    ("name", "external_id", "text", "ticket"),
    [
        ("variant_a", "3EB0B4C7E2A91F6D8C25", "Bom dia! Tem horário com a Dra. Ana na sexta?", ""),
        ("variant_b", "3EB0B4C7E2A91F6D8C25", "Bom dia! Tem horário na sexta?", "812"),
        ("variant_c", "3EB0B4C7E2A91F6D8C25", "Quero remarcar minha consulta", "812"),
        ("variant_d", "A5C2E9D1F03B7A64C8E2D91B0F3A7C56", "Vocês atendem Unimed?", "812"),
        ("variant_e", "RELAY-0001", "Oi, queria marcar uma consulta", "812"),
    ],
)
def test_contract_examples_parse_to_the_same_record(name, external_id, text, ticket):
    event = parse_payload(_fixture(name))
    assert event.kind == "message"
    assert event.variant == name[-1].upper()
    assert event.external_id == external_id
    assert event.phone == "+5511987654321"
    assert event.wa_id == "5511987654321"
    assert event.text == text
    assert event.media_kind == "text"
    assert event.from_me is False
    assert event.ticket_id == ticket
    assert event.timestamp in (
        None,
        datetime(2025, 3, 14, 13, 2, 11, tzinfo=UTC),
        datetime(2025, 3, 14, 13, 2, 11, 512000, tzinfo=UTC),
    )


def test_millisecond_timestamps_are_read_as_milliseconds():
    event = parse_payload(_fixture("variant_e"))
    assert event.timestamp == datetime(2025, 3, 14, 13, 2, 11, tzinfo=UTC)


def test_baileys_long_timestamp_object():
    payload = payloads.variant_a(timestamp={"low": 1741957331, "high": 0, "unsigned": True})
    assert parse_payload(payload).timestamp == datetime(2025, 3, 14, 13, 2, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "e164", "digits"),
    [
        ("553188776655@s.whatsapp.net", "+5531988776655", "553188776655"),  # ninth digit restored
        ("553133445566@c.us", "+553133445566", "553133445566"),  # landline kept
        ("5511987654321", "+5511987654321", "5511987654321"),
        ("14155550123", "+14155550123", "14155550123"),
        ("120363025246125486@g.us", None, ""),
        ("5511987654321-1614354@g.us", None, ""),
    ],
)
def test_phone_normalisation(raw, e164, digits):
    assert normalize_phone(raw) == (e164, digits)


def test_lid_uses_the_alternative_phone_when_present():
    event = parse_payload(
        payloads.variant_a(
            number="201234567890123", jid_suffix="@lid", key_extra={"remoteJidAlt": "5511987654321@s.whatsapp.net"}
        )
    )
    assert event.lid == "201234567890123"
    assert event.phone == "+5511987654321"


def test_lid_without_a_phone_keeps_only_the_lid():
    event = parse_payload(payloads.variant_a(number="201234567890123", jid_suffix="@lid"))
    assert event.lid == "201234567890123"
    assert event.phone is None and event.wa_id == ""


def test_left_to_right_mark_and_spaces_are_stripped():
    assert parse_payload(payloads.variant_e(text="\u200e  Olá  ")).text == "Olá"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (payloads.variant_a(number="120363025246125486", jid_suffix="@g.us"), "group"),
        (payloads.variant_a(number="status", jid_suffix="@broadcast"), "not_a_message"),
        (payloads.variant_a(message={"reactionMessage": {"text": "👍"}}), "not_a_message"),
        (payloads.variant_a(message={"protocolMessage": {"type": 0}}), "not_a_message"),
        (payloads.variant_b(event="message_ack"), "other_event"),
        (payloads.variant_c(is_group=True), "group"),
        (payloads.variant_d(is_group=True), "group"),
        ({**payloads.variant_e(), "isGroup": True}, "group"),
    ],
)
def test_groups_status_and_non_messages_are_ignored_with_a_reason(payload, reason):
    event = parse_payload(payload)
    assert event.kind == "ignored"
    assert event.reason == reason


@pytest.mark.parametrize(
    ("payload", "kind", "text"),
    [
        (payloads.voice_note_a(), "voice", ""),
        (payloads.variant_a(message={"audioMessage": {"ptt": False}}), "audio", ""),
        (payloads.image_a(caption="minha carteirinha"), "image", "minha carteirinha"),
        (payloads.variant_a(message={"documentMessage": {"fileName": "exame.pdf"}}), "document", ""),
        (payloads.variant_a(message={"locationMessage": {"degreesLatitude": -23.5}}), "location", ""),
        (payloads.variant_a(message={"extendedTextMessage": {"text": "oi"}}), "text", "oi"),
        (payloads.variant_a(message={"ephemeralMessage": {"message": {"conversation": "sumiu"}}}), "text", "sumiu"),
        (
            payloads.variant_a(message={"buttonsResponseMessage": {"selectedDisplayText": "Confirmar"}}),
            "text",
            "Confirmar",
        ),
        (payloads.variant_b(media_type="ptt", text=""), "voice", ""),
        (payloads.variant_e(media_type="image", text=""), "image", ""),
    ],
)
def test_media_kinds(payload, kind, text):
    event = parse_payload(payload)
    assert (event.media_kind, event.text) == (kind, text)


def test_from_me_is_recognised_in_every_variant():
    for payload in (
        payloads.variant_a(from_me=True),
        payloads.variant_b(from_me=True),
        payloads.variant_c(from_me=True),
        payloads.variant_d(from_me=True),
        payloads.variant_e(from_me=True),
    ):
        assert parse_payload(payload).from_me is True


def test_takeover_signals():
    assert parse_payload(payloads.ticket_updated_b(number="5511987654321")).takeover
    assert parse_payload(payloads.variant_c(status="open", user_id=7)).takeover
    assert parse_payload(payloads.variant_d(event_type="TransferTicket", ticket_user_id=7)).takeover
    assert parse_payload(payloads.variant_e(ticket_status="open", user_id=7)).takeover
    assert parse_payload(payloads.variant_d(from_me=True, user={"id": 7, "name": "Ana"})).typed_by_person
    closed = parse_payload(payloads.ticket_closed_b(number="5511987654321"))
    assert (closed.kind, closed.ticket_status) == ("ticket", "closed")
    assert not parse_payload(payloads.variant_c(status="pending")).takeover


@pytest.mark.parametrize("payload", [{"foo": "bar"}, [], "texto", {"key": {}}, {"number": "x"}])
def test_unknown_shapes_are_refused(payload):
    with pytest.raises(UnknownShape):
        parse_payload(payload)

"""`POST /webhook/whaticket`: authentication per clinic, storage, duplicates, dead letters."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from rq.registry import ScheduledJobRegistry

from conversations.models import Contact, Conversation, DeadLetter, Message
from conversations.services import inbox_sweep
from secretaria.queue import get_queue
from secretaria.testing import whaticket_payloads as payloads
from tenants.models import Clinic

pytestmark = pytest.mark.django_db


def _set_mode(clinic, mode):
    from tenants.selectors import clear_host_cache

    Clinic.objects.filter(pk=clinic.pk).update(webhook_auth_mode=mode)
    clinic.webhook_auth_mode = mode
    clear_host_cache()  # a queryset update sends no signal


def _scheduled_jobs():
    registry = ScheduledJobRegistry(queue=get_queue())
    return [get_queue().fetch_job(job_id) for job_id in registry.get_job_ids()]


def _messages(schema):
    with schema_context(schema):
        return list(Message.objects.values_list("external_id", "direction", "body", "status"))


def test_signed_delivery_is_stored_and_its_processing_scheduled(webhook, clinics):
    get_queue().empty()
    for job in _scheduled_jobs():
        job.delete()
    response = webhook.post(clinics.alfa, payloads.variant_a(message_id="ABC123"))
    assert response.status_code == 202
    assert response.json() == {"queued": True}
    assert _messages("alfa") == [("ABC123", "in", "Bom dia! Tem horário com a Dra. Ana na sexta?", "received")]
    with schema_context("alfa"):
        contact = Contact.objects.get()
        assert (contact.phone, contact.wa_id, contact.name) == ("+5511987654321", "5511987654321", "Maria Souza")
        message = Message.objects.get()
    jobs = [job for job in _scheduled_jobs() if job.args[1] == "conversations.jobs.process_conversation"]
    assert len(jobs) == 1
    assert jobs[0].args[0] == "alfa"
    assert jobs[0].args[2] == (message.conversation_id, message.pk)
    assert _messages("beta") == []


def test_repeated_delivery_answers_200_and_enqueues_nothing(webhook, clinics):
    payload = payloads.variant_b(message_id="DUP-1")
    assert webhook.post(clinics.alfa, payload).status_code == 202
    before = len(_scheduled_jobs())
    response = webhook.post(clinics.alfa, payload)
    assert response.status_code == 200
    assert response.json() == {"queued": False, "duplicate": True}
    assert len(_scheduled_jobs()) == before
    assert len(_messages("alfa")) == 1


@pytest.mark.parametrize(
    "builder",
    [payloads.variant_a, payloads.variant_b, payloads.variant_c, payloads.variant_d, payloads.variant_e],
)
def test_every_variant_is_accepted(webhook, clinics, builder):
    response = webhook.post(clinics.alfa, builder())
    assert response.status_code == 202, response.content
    assert len(_messages("alfa")) == 1


# --- authentication -----------------------------------------------------------------------------


def test_hmac_bad_signature_is_401(webhook, clinics):
    response = webhook.post(clinics.alfa, payloads.variant_e(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json() == {"detail": "Assinatura inválida."}
    assert _messages("alfa") == []


def test_hmac_stale_timestamp_is_401(webhook, clinics):
    response = webhook.post(clinics.alfa, payloads.variant_e(), timestamp=int(time.time()) - 3600)
    assert response.status_code == 401
    assert "janela" in response.json()["detail"]


def test_hmac_missing_headers_is_401(webhook, clinics):
    response = webhook.post(clinics.alfa, payloads.variant_e(), mode="none")
    assert response.status_code == 401
    assert "X-Signature" in response.json()["detail"]


def test_clinic_a_secret_does_not_validate_clinic_b(webhook, clinics):
    response = webhook.post(clinics.beta, payloads.variant_e(), secret=clinics.alfa.webhook_secret)
    assert response.status_code == 401
    _set_mode(clinics.beta, "url_token")
    response = webhook.post(clinics.beta, payloads.variant_e(), mode="url_token", token=clinics.alfa.webhook_token)
    assert response.status_code == 401
    _set_mode(clinics.beta, "header_token")
    response = webhook.post(clinics.beta, payloads.variant_e(), mode="header_token", token=clinics.alfa.webhook_token)
    assert response.status_code == 401
    assert _messages("beta") == [] and _messages("alfa") == []


def test_shared_secret_is_accepted_in_hmac_mode(webhook, clinics, settings):
    settings.SHARED_SECRET = "segredo-do-relay-do-operador"
    response = webhook.post(clinics.alfa, payloads.variant_e(), secret="segredo-do-relay-do-operador")
    assert response.status_code == 202


def test_webhook_token_optional_is_required_when_set(webhook, clinics, settings):
    settings.WEBHOOK_TOKEN_OPTIONAL = "segundo-fator"
    assert webhook.post(clinics.alfa, payloads.variant_e()).status_code == 401
    ok = webhook.post(clinics.alfa, payloads.variant_e(), headers={"X-Webhook-Token": "segundo-fator"})
    assert ok.status_code == 202


def test_url_token_mode(webhook, clinics):
    _set_mode(clinics.alfa, "url_token")
    assert webhook.post(clinics.alfa, payloads.variant_a(), mode="url_token").status_code == 202
    assert webhook.post(clinics.alfa, payloads.variant_a(), mode="url_token", token="x" * 40).status_code == 401
    # a signed delivery without the token in the path is refused in this mode
    assert webhook.post(clinics.alfa, payloads.variant_a()).status_code == 401


def test_url_token_previous_token_valid_during_rotation(webhook, clinics):
    _set_mode(clinics.alfa, "url_token")
    old = clinics.alfa.webhook_token
    clinic = Clinic.objects.get(pk=clinics.alfa.pk)
    clinic.webhook_token_previous, clinic.webhook_token = old, "n" * 43
    clinic.webhook_previous_valid_until = timezone.now() + timedelta(hours=1)
    clinic.save(update_fields=["webhook_token", "webhook_token_previous", "webhook_previous_valid_until"])
    assert webhook.post(clinic, payloads.variant_a(), mode="url_token", token=old).status_code == 202
    assert webhook.post(clinic, payloads.variant_a(), mode="url_token", token="n" * 43).status_code == 202


def _rotate_then_expire(clinic_pk, *, grace_hours=1):
    """Rotate a clinic's webhook credentials; returns (old clinic, rotated clinic, expire)."""
    from tenants.rotation import clinic_webhook_rotate
    from tenants.selectors import clear_host_cache

    old = Clinic.objects.get(pk=clinic_pk)
    rotated = Clinic.objects.get(pk=clinic_pk)
    clinic_webhook_rotate(clinic=rotated, grace_hours=grace_hours)

    def expire():
        Clinic.objects.filter(pk=clinic_pk).update(webhook_previous_valid_until=timezone.now() - timedelta(seconds=1))
        clear_host_cache()

    return old, rotated, expire


def test_previous_secret_is_accepted_during_the_grace_period_then_refused(webhook, clinics):
    old, rotated, expire = _rotate_then_expire(clinics.alfa.pk)
    assert rotated.webhook_secret != old.webhook_secret
    assert webhook.post(rotated, payloads.variant_a(message_id="G-1"), secret=old.webhook_secret).status_code == 202
    assert webhook.post(rotated, payloads.variant_a(message_id="G-2")).status_code == 202
    expire()
    assert webhook.post(rotated, payloads.variant_a(message_id="G-3"), secret=old.webhook_secret).status_code == 401
    assert webhook.post(rotated, payloads.variant_a(message_id="G-4")).status_code == 202


def test_previous_url_and_header_tokens_are_refused_after_the_grace_period(webhook, clinics):
    _set_mode(clinics.alfa, "url_token")
    old, rotated, expire = _rotate_then_expire(clinics.alfa.pk)
    previous = old.webhook_token
    assert (
        webhook.post(rotated, payloads.variant_a(message_id="T-1"), mode="url_token", token=previous).status_code == 202
    )
    _set_mode(rotated, "header_token")
    assert webhook.post(rotated, payloads.variant_d(), mode="header_token", token=previous).status_code == 202
    expire()
    assert webhook.post(rotated, payloads.variant_d(), mode="header_token", token=previous).status_code == 401
    assert webhook.post(rotated, payloads.variant_d(), mode="header_token").status_code == 202
    _set_mode(rotated, "url_token")
    assert (
        webhook.post(rotated, payloads.variant_a(message_id="T-2"), mode="url_token", token=previous).status_code == 401
    )
    assert webhook.post(rotated, payloads.variant_a(message_id="T-3"), mode="url_token").status_code == 202


def test_rotation_without_grace_refuses_the_previous_secret_at_once(webhook, clinics):
    old, rotated, _ = _rotate_then_expire(clinics.alfa.pk, grace_hours=0)
    assert webhook.post(rotated, payloads.variant_a(message_id="Z-1"), secret=old.webhook_secret).status_code == 401
    assert webhook.post(rotated, payloads.variant_a(message_id="Z-2")).status_code == 202


def test_url_token_on_an_hmac_clinic_is_refused(webhook, clinics):
    response = webhook.post(clinics.alfa, payloads.variant_a(), mode="url_token")
    assert response.status_code == 401


def test_header_token_mode_also_accepts_n8n_header(webhook, clinics):
    _set_mode(clinics.alfa, "header_token")
    assert webhook.post(clinics.alfa, payloads.variant_d(), mode="header_token").status_code == 202
    n8n = webhook.post(
        clinics.alfa, payloads.variant_d(), mode="none", headers={"X-N8N-API-KEY": clinics.alfa.webhook_token}
    )
    assert n8n.status_code == 202
    assert webhook.post(clinics.alfa, payloads.variant_d(), mode="none").status_code == 401


def test_repeated_bad_signatures_from_one_address_get_429(webhook, clinics, settings):
    from secretaria.redis import get_redis

    settings.WEBHOOK_RATE_LIMIT_IP = 3
    for key in get_redis().scan_iter("secretaria:webhook:authfail:*"):
        get_redis().delete(key)
    codes = [webhook.post(clinics.alfa, payloads.variant_e(), secret="errado").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # an authenticated delivery from elsewhere is not affected
    assert webhook.post(clinics.alfa, payloads.variant_e(), headers={"X-Forwarded-For": "1.2.3.4"}).status_code in (
        202,
        429,
    )
    for key in get_redis().scan_iter("secretaria:webhook:authfail:*"):
        get_redis().delete(key)


# --- what is not a patient's message ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (payloads.variant_a(number="120363025246125486", jid_suffix="@g.us"), "group"),
        (payloads.variant_a(message={"reactionMessage": {"text": "👍"}}), "not_a_message"),
        (payloads.variant_b(event="message_ack"), "other_event"),
    ],
)
def test_groups_and_status_events_are_acknowledged_and_ignored(webhook, clinics, payload, reason):
    response = webhook.post(clinics.alfa, payload)
    assert response.status_code == 200
    assert response.json() == {"queued": False, "ignored": reason}
    assert _messages("alfa") == []


def test_our_own_echo_is_ignored(webhook, clinics):
    assert webhook.post(clinics.alfa, payloads.variant_e(number="5511911112222")).status_code == 202
    with schema_context("alfa"):
        conversation = Conversation.objects.get()
        Message.objects.create(conversation=conversation, direction="out", body="Olá! Tudo certo.", status="sent")
    echo = payloads.variant_e(number="5511911112222", text="\u200eOlá! Tudo certo.", from_me=True)
    response = webhook.post(clinics.alfa, echo)
    assert response.json() == {"queued": False, "ignored": "from_me"}
    with schema_context("alfa"):
        assert Conversation.objects.get().state == "bot"


def test_voice_note_is_stored(webhook, clinics):
    assert webhook.post(clinics.alfa, payloads.voice_note_a(message_id="VOICE1")).status_code == 202
    with schema_context("alfa"):
        message = Message.objects.get(external_id="VOICE1")
    assert message.media_kind == "voice"
    assert message.raw["message"]["audioMessage"]["ptt"] is True


# --- bad input ----------------------------------------------------------------------------------


def test_malformed_json_is_400_and_kept_as_a_dead_letter(webhook, clinics):
    response = webhook.post(clinics.alfa, raw=b'{"key": {"id": "x"')
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    with schema_context("alfa"):
        letter = DeadLetter.objects.get()
    assert letter.reason == "malformed JSON"
    assert letter.body == '{"key": {"id": "x"'


def test_unknown_shape_is_400_and_kept_as_a_dead_letter(webhook, clinics):
    response = webhook.post(clinics.alfa, {"hello": "world"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("unknown payload shape")
    with schema_context("alfa"):
        assert DeadLetter.objects.get().body == '{"hello": "world"}'
    with schema_context("beta"):
        assert not DeadLetter.objects.exists()


def test_unauthenticated_garbage_is_not_stored(webhook, clinics):
    assert webhook.post(clinics.alfa, raw=b"lixo", secret="errado").status_code == 401
    with schema_context("alfa"):
        assert not DeadLetter.objects.exists()


def test_body_over_256_kb_is_413(webhook, clinics):
    payload = payloads.variant_e(text="x" * (257 * 1024))
    response = webhook.post(clinics.alfa, payload)
    assert response.status_code == 413
    assert _messages("alfa") == []


def test_no_trailing_slash_redirect(webhook, clinics):
    response = webhook.client.post(
        "/webhook/whaticket/", data=b"{}", content_type="application/json", headers={"Host": "alfa.localhost"}
    )
    assert response.status_code == 401


def test_redis_down_at_intake_still_stores_and_answers_202_then_the_sweeper_queues_it(webhook, clinics, settings):
    from secretaria.redis import get_redis

    good_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        response = webhook.post(clinics.alfa, payloads.variant_e(message_id="NO-REDIS"))
    finally:
        settings.REDIS_URL = good_url
        get_redis.cache_clear()
    assert response.status_code == 202
    assert _messages("alfa") == [("NO-REDIS", "in", "Oi, queria marcar uma consulta", "received")]

    get_queue().empty()
    connection.set_tenant(clinics.alfa)
    with webhook.capture(execute=True):
        result = inbox_sweep(now=timezone.now() + timedelta(minutes=5))
    connection.set_schema_to_public()
    assert result["conversations"] == 1
    jobs = [job for job in get_queue().jobs if job.args[1] == "conversations.jobs.process_conversation"]
    assert len(jobs) == 1 and jobs[0].args[0] == "alfa"
    get_queue().empty()


def test_a_flooding_number_is_still_accepted_at_intake(webhook, clinics, settings):
    """Whaticket never redelivers: even a flood is stored; processing throttles it."""
    settings.WEBHOOK_RATE_LIMIT_NUMBER = 3
    codes = [webhook.post(clinics.alfa, payloads.variant_e(number="5511955556666")).status_code for _ in range(5)]
    assert codes == [202] * 5
    assert len(_messages("alfa")) == 5

"""Answering a burst once, media and handoff, and the pending question."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations import pending, services
from conversations.models import Conversation, Message
from conversations.tests.conftest import make_conversation
from secretaria.testing import whaticket_payloads as payloads


def _inbound(conversation, body="Oi", media_kind="text", age=0):
    message = Message.objects.create(
        conversation=conversation, direction="in", body=body, media_kind=media_kind, status="received"
    )
    if age:
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=age))
        message.refresh_from_db()
    return message


def _outbound(conversation):
    return list(Message.objects.filter(conversation=conversation, direction="out").values_list("kind", "body"))


def test_a_burst_is_answered_once_by_the_newest_messages_job(in_alfa):
    conversation = make_conversation()
    first, second = _inbound(conversation, "Oi"), _inbound(conversation, "quero marcar")
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=first.pk) == "debounced"
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=second.pk) == "answered"
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=second.pk) == "nothing"
    replies = _outbound(conversation)
    assert len(replies) == 1
    assert "LGPD" in replies[0][1]  # the first reply to a new contact, whatever it says
    reply = Message.objects.get(conversation=conversation, direction="out")
    assert reply.reply_to_id == second.pk
    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {"processed"}


def test_a_flooding_number_is_flagged_and_not_answered(in_alfa, settings):
    settings.WEBHOOK_RATE_LIMIT_NUMBER = 3
    conversation = make_conversation()
    messages = [_inbound(conversation, f"spam {i}") for i in range(5)]
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=messages[-1].pk) == (
        "throttled"
    )
    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {"throttled"}
    assert _outbound(conversation) == []
    conversation.contact.refresh_from_db()
    assert conversation.contact.flagged_at is not None
    assert conversation.contact.flag_reason == "excesso de mensagens"


def test_a_contact_within_the_limit_is_answered(in_alfa, settings):
    settings.WEBHOOK_RATE_LIMIT_NUMBER = 3
    conversation = make_conversation()
    messages = [_inbound(conversation, f"oi {i}") for i in range(3)]
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=messages[-1].pk) == (
        "answered"
    )


def test_the_debounce_is_capped(in_alfa):
    conversation = make_conversation()
    old = _inbound(conversation, "Oi", age=11)
    _inbound(conversation, "ainda escrevendo")
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=old.pk) == "answered"


def test_a_voice_note_is_answered_asking_for_text(in_alfa):
    conversation = make_conversation()
    voice = _inbound(conversation, "", media_kind="voice")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=voice.pk)
    assert _outbound(conversation) == [
        (
            "reply",
            "Recebi seu áudio, mas por aqui ainda não consigo ouvi-lo. Pode me escrever sua mensagem em texto, "
            'por favor? Se preferir falar com uma pessoa da equipe, é só escrever "atendente".\n\n'
            "Seus dados são usados só para o seu atendimento na Clínica Alfa, conforme a LGPD. "
            "Para não receber lembretes, envie PARAR.",
        )
    ]


def test_asking_for_a_person_hands_off_and_the_transfer_message_goes_once(in_alfa, settings):
    conversation = make_conversation()
    ask = _inbound(conversation, "quero falar com um ATENDENTE por favor")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=ask.pk)
    conversation.refresh_from_db()
    assert conversation.state == "human"
    assert conversation.handoff_reason == "patient_asked"
    assert _outbound(conversation) == [("handoff", settings.TRANSFER_TO_HUMAN_MESSAGE)]
    again = _inbound(conversation, "alô? atendente?")
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=again.pk) == "human"
    assert len(_outbound(conversation)) == 1


def test_hand_back_resumes_the_bot(in_alfa):
    conversation = make_conversation()
    services.conversation_handoff(conversation=conversation, reason="agent_took_ticket", notify=False)
    assert services.conversation_hand_back(conversation=conversation, reason="painel")
    message = _inbound(conversation, "oi de novo")
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=message.pk) == "answered"


def test_idle_human_conversations_return_to_the_bot(in_alfa, settings):
    conversation = make_conversation()
    services.conversation_handoff(conversation=conversation, reason="patient_asked", notify=False)
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now() - timedelta(minutes=121))
    assert services.idle_handoffs_return() == 1
    conversation.refresh_from_db()
    assert conversation.state == "bot"


def test_a_contact_known_only_by_lid_is_handed_off_not_answered(in_alfa):
    from conversations.models import Contact

    contact = Contact.objects.create(lid="201234567890123", name="Sem Número")
    conversation = Conversation.objects.create(contact=contact)
    message = _inbound(conversation, "oi")
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=message.pk) == "no_number"
    conversation.refresh_from_db()
    assert conversation.state == "human"
    assert _outbound(conversation) == []


# --- handoff signals from Whaticket ----------------------------------------------------------

NUMBER = "5511944443333"


def _state(schema="alfa"):
    with schema_context(schema):
        return Conversation.objects.get(contact__phone=f"+{NUMBER}").state


def _transfer_messages():
    with schema_context("alfa"):
        return Message.objects.filter(direction="out", kind="handoff").count()


@pytest.mark.parametrize(
    "signal",
    [
        lambda: payloads.ticket_updated_b(number=NUMBER),
        lambda: payloads.variant_c(number=NUMBER, status="open", user_id=7, text="oi"),
        lambda: payloads.variant_d(number=NUMBER, event_type="TransferTicket", ticket_user_id=7),
        lambda: payloads.variant_e(number=NUMBER, ticket_status="open", user_id=7, ticket_id=812),
    ],
)
def test_a_person_taking_the_ticket_silences_the_bot(webhook, clinics, signal):
    assert webhook.post(clinics.alfa, payloads.variant_e(number=NUMBER, text="oi")).status_code == 202
    webhook.post(clinics.alfa, signal())
    assert _state() == "human"
    assert _transfer_messages() <= 1
    connection.set_tenant(clinics.alfa)
    conversation = Conversation.objects.get(contact__phone=f"+{NUMBER}")
    newest = Message.objects.filter(direction="in").order_by("-id").first()
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=newest.pk) == "human"
    assert not Message.objects.filter(direction="out", kind="reply").exists()


def test_a_person_typing_in_whaticket_takes_over(webhook, clinics):
    webhook.post(clinics.alfa, payloads.variant_e(number=NUMBER, text="oi"))
    webhook.post(
        clinics.alfa, payloads.variant_e(number=NUMBER, text="Oi Maria, aqui é a Ana da recepção", from_me=True)
    )
    assert _state() == "human"
    assert _transfer_messages() == 0  # the person is already talking


def test_a_closed_ticket_returns_the_conversation_to_the_bot(webhook, clinics):
    webhook.post(clinics.alfa, payloads.variant_e(number=NUMBER, text="oi"))
    webhook.post(clinics.alfa, payloads.ticket_updated_b(number=NUMBER))
    assert _state() == "human"
    webhook.post(clinics.alfa, payloads.ticket_closed_b(number=NUMBER))
    assert _state() == "bot"


# --- the pending question ----------------------------------------------------------------------


def test_pending_question_is_set_read_and_expires(in_alfa):
    conversation = make_conversation()
    assert pending.pending_question_get(conversation=conversation) is None
    pending.pending_question_set(
        conversation=conversation, kind="reminder", ref=42, data={"options": ["1", "2", "3"]}, ttl=timedelta(hours=2)
    )
    fresh = Conversation.objects.get(pk=conversation.pk)
    question = pending.pending_question_get(conversation=fresh)
    assert (question.kind, question.ref, question.data) == ("reminder", "42", {"options": ["1", "2", "3"]})
    assert pending.pending_question_get(conversation=fresh, now=timezone.now() + timedelta(hours=3)) is None
    assert not pending.pending_question_clear(conversation=fresh, kind="followup")
    assert pending.pending_question_clear(conversation=fresh, kind="reminder")
    assert pending.pending_question_get(conversation=Conversation.objects.get(pk=conversation.pk)) is None


def test_a_new_question_replaces_the_old(in_alfa):
    conversation = make_conversation()
    pending.pending_question_set(conversation=conversation, kind="reminder", ref=1)
    pending.pending_question_set(conversation=conversation, kind="cancel_confirm", ref=1)
    assert (
        pending.pending_question_get(conversation=Conversation.objects.get(pk=conversation.pk)).kind == "cancel_confirm"
    )


def test_sweep_and_reminder_commands_run_per_clinic(clinics, db, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("sweep_inbox")
    call_command("send_due_reminders", "--tenant", "beta")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "alfa: 0 conversations, 0 sends queued",
        "beta: 0 conversations, 0 sends queued",
        "beta: 0 reminders queued",
    ]
    with pytest.raises(CommandError, match="no active clinic 'nada'"):
        call_command("sweep_inbox", "--tenant", "nada")


def test_the_privacy_notice_goes_only_with_the_first_reply(in_alfa):
    conversation = make_conversation()
    first = _inbound(conversation, "Oi")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=first.pk)
    second = _inbound(conversation, "tudo bem?")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=second.pk)
    replies = [body for _, body in _outbound(conversation)]
    assert "conforme a LGPD" in replies[0]
    assert "LGPD" not in replies[1]


def test_parar_and_voltar_change_consent_with_source_and_time(in_alfa):
    conversation = make_conversation()
    stop = _inbound(conversation, "PARAR")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=stop.pk)
    contact = conversation.contact
    contact.refresh_from_db()
    assert (contact.accepts_proactive, contact.consent_source) == (False, "whatsapp")
    assert contact.consent_updated_at is not None
    assert _outbound(conversation)[-1][1].startswith("Pronto, você não vai mais receber lembretes")
    again = _inbound(conversation, "voltar")
    services.conversation_process(conversation_id=conversation.pk, trigger_message_id=again.pk)
    contact.refresh_from_db()
    assert contact.accepts_proactive is True
    assert _outbound(conversation)[-1][1].startswith("Combinado! Você voltará a receber lembretes")


def test_a_conversation_being_answered_is_not_answered_twice_at_once(in_alfa, django_capture_on_commit_callbacks):
    """A model call can take seconds: a second job for the same patient waits instead of
    running the engine (and its bookings) in parallel."""
    from secretaria.redis import get_redis

    conversation = make_conversation()
    message = _inbound(conversation, "qual o endereço?")
    key = f"secretaria:conversation-busy:alfa:{conversation.pk}"
    get_redis().set(key, "1", ex=60)  # another worker is answering this conversation
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert (
                services.conversation_process(conversation_id=conversation.pk, trigger_message_id=message.pk) == "busy"
            )
        assert len(callbacks) == 1  # tried again a little later
        assert not Message.objects.filter(direction="out").exists()
    finally:
        get_redis().delete(key)
    assert services.conversation_process(conversation_id=conversation.pk, trigger_message_id=message.pk) == "answered"
    assert not get_redis().exists(key)  # released after answering

"""The message pipeline: store what arrives, answer each burst once, send each reply once."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError

from conversations import engine, whaticket
from conversations.models import Contact, Conversation, DeadLetter, Message, WhaticketSettings
from conversations.output import text_split
from conversations.parsing import LRM, Inbound
from secretaria import metrics
from secretaria.queue import enqueue
from secretaria.redis import get_redis

log = logging.getLogger(__name__)

DEBOUNCE_CAP_SECONDS = 10.0
RETRY_CAP_SECONDS = 300.0
ECHO_WINDOW = timedelta(minutes=10)


def _tenant() -> str:
    return connection.schema_name


# --- configuration ----------------------------------------------------------------------------


def whaticket_config() -> whaticket.WhaticketConfig:
    """The clinic's Whaticket connection; empty values fall back to the global settings."""
    row = WhaticketSettings.objects.first()
    return whaticket.WhaticketConfig(
        api_url=(row and row.api_url) or settings.WHATSAPP_API_URL,
        bearer_token=(row and row.bearer_token) or settings.WHATSAPP_BEARER_TOKEN,
        jwt_email=(row and row.jwt_email) or settings.WHATICKET_JWT_EMAIL,
        jwt_password=(row and row.jwt_password) or settings.WHATICKET_JWT_PASSWORD,
    )


# --- intake -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveResult:
    outcome: str  # queued, duplicate, human, from_me, ticket
    message_id: int | None = None


def dead_letter_store(*, reason: str, body: bytes, content_type: str) -> DeadLetter:
    return DeadLetter.objects.create(
        reason=reason[:200], body=body.decode("utf-8", errors="replace"), content_type=content_type[:100]
    )


def _conversation_for(event: Inbound) -> Conversation:
    """The contact's conversation, created on first contact (phone first, then LID)."""
    lookup = {"contact__phone": event.phone} if event.phone else {"contact__lid": event.lid}
    conversation = Conversation.objects.select_related("contact").filter(**lookup).first()
    if conversation is not None:
        contact = conversation.contact
        changed = []
        if event.name and not contact.name:
            contact.name = event.name
            changed.append("name")
        if event.wa_id and contact.wa_id != event.wa_id:
            contact.wa_id = event.wa_id
            changed.append("wa_id")
        if event.lid and contact.lid != event.lid:
            contact.lid = event.lid
            changed.append("lid")
        if changed:
            contact.save(update_fields=changed)
        return conversation
    try:
        with transaction.atomic():
            contact = Contact.objects.create(phone=event.phone, wa_id=event.wa_id, lid=event.lid, name=event.name)
            return Conversation.objects.create(contact=contact)
    except IntegrityError:
        # Another delivery created this contact at the same moment.
        return Conversation.objects.select_related("contact").get(**lookup)


def _over_number_limit(conversation: Conversation, now) -> bool:
    """More messages from this contact in the window than WEBHOOK_RATE_LIMIT_NUMBER?"""
    since = now - timedelta(seconds=settings.RATE_LIMIT_WINDOW_SECONDS)
    recent = Message.objects.filter(
        conversation=conversation, direction=Message.Direction.IN, created_at__gte=since
    ).count()
    return recent > settings.WEBHOOK_RATE_LIMIT_NUMBER


def _is_our_echo(conversation: Conversation, text: str) -> bool:
    since = timezone.now() - ECHO_WINDOW
    recent = Message.objects.filter(
        conversation=conversation, direction=Message.Direction.OUT, created_at__gte=since
    ).values_list("body", flat=True)
    wanted = text.strip().lstrip(LRM).strip()
    return any(body.strip() == wanted for body in recent)


# One statement, one round trip: find or create the contact and its conversation, insert the
# message unless its external id is known, and touch the conversation. Autocommit.
_STORE_INBOUND_SQL = """
WITH contact_new AS (
    INSERT INTO conversations_contact
        (phone, wa_id, lid, name, accepts_proactive, consent_source, flag_reason, created_at)
    VALUES (%(phone)s, %(wa_id)s, NULL, %(name)s, true, '', '', %(now)s)
    ON CONFLICT (phone) DO NOTHING
    RETURNING id
), contact AS (
    SELECT id FROM contact_new
    UNION ALL
    SELECT id FROM conversations_contact WHERE phone = %(phone)s
    LIMIT 1
), contact_touch AS (
    UPDATE conversations_contact
    SET wa_id = %(wa_id)s, name = CASE WHEN name = '' THEN %(name)s ELSE name END
    WHERE id = (SELECT id FROM contact) AND (wa_id <> %(wa_id)s OR (name = '' AND %(name)s <> ''))
), conv_new AS (
    INSERT INTO conversations_conversation
        (contact_id, ticket_id, state, handoff_reason, last_activity_at,
         pending_kind, pending_ref, pending_data, created_at)
    SELECT id, %(ticket_id)s, 'bot', '', %(now)s, '', '', '{}'::jsonb, %(now)s FROM contact
    ON CONFLICT (contact_id) DO NOTHING
    RETURNING id, state
), conv AS (
    SELECT id, state FROM conv_new
    UNION ALL
    SELECT c.id, c.state FROM conversations_conversation c WHERE c.contact_id = (SELECT id FROM contact)
    LIMIT 1
), msg AS (
    INSERT INTO conversations_message
        (conversation_id, direction, body, media_kind, external_id, raw, status, kind, attempts,
         last_error, sent_at_whatsapp, created_at)
    SELECT id, 'in', %(body)s, %(media_kind)s, %(external_id)s, %(raw)s::jsonb, 'received', 'reply', 0,
           '', %(sent_at_whatsapp)s, %(now)s
    FROM conv
    ON CONFLICT (direction, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING id
), conv_touch AS (
    UPDATE conversations_conversation
    SET last_activity_at = %(now)s,
        ticket_id = CASE WHEN %(ticket_id)s <> '' THEN %(ticket_id)s ELSE ticket_id END,
        state = CASE WHEN state = 'closed' THEN 'bot' ELSE state END,
        state_changed_at = CASE WHEN state = 'closed' THEN %(now)s ELSE state_changed_at END
    WHERE id = (SELECT id FROM conv) AND EXISTS (SELECT 1 FROM msg)
)
SELECT (SELECT id FROM conv), (SELECT state FROM conv), (SELECT id FROM contact), (SELECT id FROM msg)
"""


def _store_inbound(event: Inbound, raw: dict, now) -> tuple[int, str, int, int | None] | None:
    """(conversation id, state, contact id, message id or None when a duplicate), or None
    when a concurrent first message from the same number hid the new contact: retry via the ORM."""
    params = {
        "phone": event.phone,
        "wa_id": event.wa_id,
        "name": event.name,
        "ticket_id": event.ticket_id,
        "body": event.text,
        "media_kind": event.media_kind,
        "external_id": event.external_id,
        "raw": json.dumps(raw),
        "sent_at_whatsapp": event.timestamp,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_STORE_INBOUND_SQL, params)
        conversation_id, state, contact_id, message_id = cursor.fetchone()
    if conversation_id is None:
        return None
    return conversation_id, state, contact_id, message_id


def inbound_receive(*, event: Inbound, raw: dict) -> ReceiveResult:
    """Store a delivery (a message or a ticket event) and queue its processing on commit."""
    now = timezone.now()
    if event.kind == "ticket":
        return _ticket_event_apply(event)
    if event.from_me:
        # Our own reply coming back, or a person typing in Whaticket or on the phone.
        conversation = _conversation_for(event)
        if event.typed_by_person or not _is_our_echo(conversation, event.text):
            conversation_handoff(conversation=conversation, reason="agent_typed", notify=False)
            return ReceiveResult("human")
        return ReceiveResult("from_me")
    stored = _store_inbound(event, raw, now) if event.phone else None
    if stored is None:
        stored = _store_inbound_orm(event, raw, now)
    conversation_id, state, contact_id, message_id = stored
    if message_id is None:
        return ReceiveResult("duplicate")
    if event.takeover and state != Conversation.State.HUMAN:
        conversation = Conversation.objects.get(pk=conversation_id)
        conversation_handoff(conversation=conversation, reason="agent_took_ticket", notify=False)
    enqueue("conversations.jobs.process_conversation", conversation_id, message_id, delay=settings.DEBOUNCE_SECONDS)
    return ReceiveResult("queued", message_id)


def _store_inbound_orm(event: Inbound, raw: dict, now) -> tuple[int, str, int, int | None]:
    """The general path (contacts known only by LID, or a race on a brand-new number)."""
    with transaction.atomic():
        conversation = _conversation_for(event)
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    direction=Message.Direction.IN,
                    body=event.text,
                    media_kind=event.media_kind,
                    external_id=event.external_id,
                    raw=raw,
                    status=Message.Status.RECEIVED,
                    sent_at_whatsapp=event.timestamp,
                )
        except IntegrityError:
            return conversation.pk, conversation.state, conversation.contact_id, None
        updates = {"last_activity_at": now}
        if event.ticket_id and event.ticket_id != conversation.ticket_id:
            updates["ticket_id"] = event.ticket_id
        if conversation.state == Conversation.State.CLOSED:
            updates.update(state=Conversation.State.BOT, state_changed_at=now)
            conversation.state = Conversation.State.BOT
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
    return conversation.pk, conversation.state, conversation.contact_id, message.pk


def _ticket_event_apply(event: Inbound) -> ReceiveResult:
    lookup = {"contact__phone": event.phone} if event.phone else {"ticket_id": event.ticket_id}
    conversation = Conversation.objects.filter(**lookup).first() if (event.phone or event.ticket_id) else None
    if conversation is None:
        return ReceiveResult("ticket")
    if event.ticket_id and event.ticket_id != conversation.ticket_id:
        Conversation.objects.filter(pk=conversation.pk).update(ticket_id=event.ticket_id)
    if event.takeover:
        conversation_handoff(conversation=conversation, reason="agent_took_ticket", notify=True)
    elif event.ticket_status == "closed":
        conversation_hand_back(conversation=conversation, reason="ticket_closed")
    return ReceiveResult("ticket")


# --- handoff ----------------------------------------------------------------------------------


def conversation_handoff(*, conversation: Conversation, reason: str, notify: bool = True) -> bool:
    """Give the conversation to a person. The transfer message goes once, when `notify`."""
    now = timezone.now()
    changed = (
        Conversation.objects.filter(pk=conversation.pk)
        .exclude(state=Conversation.State.HUMAN)
        .update(state=Conversation.State.HUMAN, state_changed_at=now, handoff_reason=reason[:200], last_activity_at=now)
    )
    if not changed:
        return False
    conversation.state = Conversation.State.HUMAN
    metrics.HANDOFFS.labels(tenant=_tenant(), reason=reason).inc()
    if notify and settings.TRANSFER_TO_HUMAN_MESSAGE:
        outbound_queue(conversation=conversation, body=settings.TRANSFER_TO_HUMAN_MESSAGE, kind="handoff")
    return True


def conversation_hand_back(*, conversation: Conversation, reason: str) -> bool:
    changed = Conversation.objects.filter(pk=conversation.pk, state=Conversation.State.HUMAN).update(
        state=Conversation.State.BOT, state_changed_at=timezone.now(), handoff_reason=f"devolvida: {reason}"
    )
    if changed:
        conversation.state = Conversation.State.BOT
    return bool(changed)


def idle_handoffs_return(*, now=None) -> int:
    """Human-held conversations idle for HANDOFF_IDLE_MINUTES go back to the bot."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.HANDOFF_IDLE_MINUTES)
    return Conversation.objects.filter(state=Conversation.State.HUMAN, last_activity_at__lt=cutoff).update(
        state=Conversation.State.BOT, state_changed_at=now, handoff_reason="devolvida: inatividade"
    )


# --- processing -------------------------------------------------------------------------------


def conversation_process(*, conversation_id: int, trigger_message_id: int) -> str:
    """Answer the conversation's unanswered messages once, after the debounce window."""
    conversation = Conversation.objects.select_related("contact").filter(pk=conversation_id).first()
    if conversation is None:
        return "gone"
    pending = list(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.IN, processed_at=None).order_by(
            "created_at", "id"
        )
    )
    if not pending:
        return "nothing"
    now = timezone.now()
    newest = pending[-1]
    burst_age = (now - pending[0].created_at).total_seconds()
    if newest.pk != trigger_message_id and burst_age < DEBOUNCE_CAP_SECONDS:
        return "debounced"  # a newer message re-armed the window: its job answers

    if conversation.state == Conversation.State.HUMAN:
        _claim(pending, now)
        return "human"
    if _over_number_limit(conversation, now):
        # Stored, shown to staff, not answered: a flooding number is flagged, never dropped.
        Message.objects.filter(pk__in=[m.pk for m in pending], processed_at=None).update(
            processed_at=now, status=Message.Status.THROTTLED
        )
        Contact.objects.filter(pk=conversation.contact_id, flagged_at=None).update(
            flagged_at=now, flag_reason="excesso de mensagens"
        )
        return "throttled"
    if not conversation.contact.reply_number:
        # A LID without a phone: the send API needs digits. A person takes it from here.
        if _claim(pending, now):
            conversation_handoff(conversation=conversation, reason="no_phone_number", notify=False)
        return "no_number"

    lock = _conversation_lock(conversation)
    if lock is False:
        # Another job is answering this patient right now (a model call can take seconds): the
        # engine's bookings must not run twice, so try again once it is done.
        enqueue("conversations.jobs.process_conversation", conversation.pk, trigger_message_id, delay=5.0)
        return "busy"
    try:
        reply = engine.reply_for(conversation=conversation, messages=pending)
    finally:
        if lock:
            get_redis().delete(lock)
    with transaction.atomic():
        if not _claim(pending, now):
            transaction.set_rollback(True)  # another job answers these messages
            return "claimed_elsewhere"
        for index, part in enumerate(text_split(reply.text)):
            # The first part is the reply (keyed to the message it answers); the rest follow it.
            outbound_queue(conversation=conversation, body=part, reply_to=newest if index == 0 else None)
        if reply.handoff_reason:
            # After the reply: an emergency's "ligue 192" must come before "vou transferir".
            conversation_handoff(conversation=conversation, reason=reply.handoff_reason, notify=True)
    metrics.MESSAGES_PROCESSED.labels(tenant=_tenant()).inc(len(pending))
    return "answered"


def _conversation_lock(conversation: Conversation) -> str | bool | None:
    """The key held while this conversation is being answered; False when someone else holds
    it; None when Redis is unreachable (answer anyway: the message claim still prevents doubles)."""
    key = f"secretaria:conversation-busy:{_tenant()}:{conversation.pk}"
    ttl = settings.RQ_QUEUES["default"].get("DEFAULT_TIMEOUT") or 300  # a killed job frees it then
    try:
        return key if get_redis().set(key, "1", nx=True, ex=ttl) else False
    except RedisError as exc:
        log.warning("conversation lock unavailable (%s); answering without it", type(exc).__name__)
        return None


def _claim(messages: list[Message], now) -> bool:
    ids = [message.pk for message in messages]
    claimed = Message.objects.filter(pk__in=ids, processed_at=None).update(
        processed_at=now, status=Message.Status.PROCESSED
    )
    return claimed == len(ids)


# --- sending ----------------------------------------------------------------------------------


def outbound_queue(
    *, conversation: Conversation, body: str, kind: str = "reply", reply_to: Message | None = None
) -> Message:
    """Store an outbound message and send it after commit (once: the row is the claim)."""
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUT,
        body=body,
        status=Message.Status.QUEUED,
        kind=kind,
        reply_to=reply_to,
    )
    enqueue("conversations.jobs.send_message", message.pk)
    return message


def _retry_delay(attempts: int, error: whaticket.TransientError) -> float:
    if error.retry_after:
        return min(RETRY_CAP_SECONDS, error.retry_after)
    base = settings.WHATICKET_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempts - 1))
    return min(RETRY_CAP_SECONDS, base) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto


def _paced(config: whaticket.WhaticketConfig) -> float:
    """Proactive sends per connection per minute; returns seconds to wait (0 = go)."""
    minute = int(time.time() // 60)
    key = f"secretaria:whaticket:pace:{config.connection_key}:{minute}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count, _ = pipe.execute()
    if count <= settings.WHATICKET_MAX_SENDS_PER_MINUTE:
        return 0.0
    return 60 - time.time() % 60 + random.uniform(0, 5)  # noqa: S311


def message_send(*, message_id: int) -> str:
    """Send one outbound message. A duplicate or retried job finds it already sent."""
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUT, status=Message.Status.QUEUED
    ).update(status=Message.Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=None)
    if not claimed:
        return "not_queued"
    message = Message.objects.select_related("conversation__contact", "reply_to").get(pk=message_id)
    conversation = message.conversation
    tenant = _tenant()
    if conversation.contact.channel == Contact.Channel.TERMINAL:
        Message.objects.filter(pk=message_id).update(status=Message.Status.STORED, last_error="")
        metrics.WHATICKET_SEND.labels(tenant=tenant, outcome="terminal").inc()
        return "terminal"
    config = whaticket_config()

    if not config.configured:
        Message.objects.filter(pk=message_id).update(status=Message.Status.STORED, last_error="")
        metrics.WHATICKET_SEND.labels(tenant=tenant, outcome="stored").inc()
        return "stored"
    if message.kind != "reply" and message.kind != "handoff":
        wait = _paced(config)
        if wait:
            _requeue(message, delay=wait, error="aguardando ritmo de envio", count_attempt=False)
            return "paced"

    if message.kind == "reply" and whaticket.ticket_is_held_by_person(
        config, ticket_id=conversation.ticket_id, number=conversation.contact.reply_number
    ):
        # A person took the ticket in Whaticket (invisible in raw deliveries): stay silent.
        Message.objects.filter(pk=message_id).update(
            status=Message.Status.STORED, last_error="não enviada: um atendente assumiu a conversa"
        )
        conversation_handoff(conversation=conversation, reason="agent_took_ticket", notify=False)
        return "human"

    started = time.perf_counter()
    try:
        whaticket.send_text(
            config, number=conversation.contact.reply_number, body=message.body, ticket_id=conversation.ticket_id
        )
    except whaticket.TransientError as exc:
        metrics.WHATICKET_SEND_LATENCY.observe(time.perf_counter() - started)
        second_timeout = exc.ambiguous and message.last_error.startswith("timeout")
        if message.attempts >= settings.WHATICKET_RETRY_ATTEMPTS or second_timeout:
            _fail(message, exc.detail, outcome="failed_exhausted")
            return "failed"
        _requeue(message, delay=_retry_delay(message.attempts, exc), error=exc.detail)
        metrics.WHATICKET_SEND.labels(tenant=tenant, outcome="retry").inc()
        log.warning("whaticket send %s will be retried: %s", message_id, exc.detail)
        return "retry"
    except whaticket.PermanentError as exc:
        metrics.WHATICKET_SEND_LATENCY.observe(time.perf_counter() - started)
        _fail(message, exc.detail, outcome="failed_permanent")
        Contact.objects.filter(pk=conversation.contact_id).update(
            flagged_at=timezone.now(), flag_reason=f"número recusado pelo WhatsApp: {exc.detail}"[:200]
        )
        return "failed"
    except whaticket.ConfigError as exc:
        _fail(message, exc.detail, outcome="failed_config")
        log.error("whaticket configuration problem for %s: %s", tenant, exc.detail)
        return "failed"
    metrics.WHATICKET_SEND_LATENCY.observe(time.perf_counter() - started)
    now = timezone.now()
    Message.objects.filter(pk=message_id).update(status=Message.Status.SENT, sent_at=now, last_error="")
    metrics.WHATICKET_SEND.labels(tenant=tenant, outcome="sent").inc()
    if message.reply_to is not None:
        metrics.MESSAGE_END_TO_END.observe((now - message.reply_to.created_at).total_seconds())
    return "sent"


def _requeue(message: Message, *, delay: float, error: str, count_attempt: bool = True) -> None:
    updates = {
        "status": Message.Status.QUEUED,
        "next_attempt_at": timezone.now() + timedelta(seconds=delay),
        "last_error": error[:300],
    }
    if not count_attempt:
        updates["attempts"] = F("attempts") - 1
    Message.objects.filter(pk=message.pk).update(**updates)
    enqueue("conversations.jobs.send_message", message.pk, delay=delay)


def _fail(message: Message, error: str, *, outcome: str) -> None:
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, last_error=error[:300])
    metrics.WHATICKET_SEND.labels(tenant=_tenant(), outcome=outcome).inc()


def message_resend(*, message: Message) -> bool:
    """Staff's "reenviar": a failed (or stored) outbound message goes back to the queue."""
    changed = Message.objects.filter(
        pk=message.pk,
        direction=Message.Direction.OUT,
        status__in=[Message.Status.FAILED, Message.Status.STORED],
    ).update(status=Message.Status.QUEUED, attempts=0, last_error="", next_attempt_at=None)
    if changed:
        enqueue("conversations.jobs.send_message", message.pk)
    return bool(changed)


# --- sweeping ---------------------------------------------------------------------------------


def inbox_sweep(*, now=None, grace: timedelta = timedelta(minutes=2)) -> dict[str, int]:
    """Queue again what was stored but never processed or sent (Redis was down, a worker died)."""
    now = now or timezone.now()
    cutoff = now - grace
    stale_inbound = (
        Message.objects.filter(direction=Message.Direction.IN, processed_at=None, created_at__lt=cutoff)
        .values("conversation_id")
        .distinct()
    )
    conversations = 0
    for row in stale_inbound:
        newest = (
            Message.objects.filter(
                conversation_id=row["conversation_id"], direction=Message.Direction.IN, processed_at=None
            )
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)
            .first()
        )
        enqueue("conversations.jobs.process_conversation", row["conversation_id"], newest)
        conversations += 1
    # Sends interrupted mid-way (the worker died): ambiguous, so they count as one attempt.
    Message.objects.filter(
        direction=Message.Direction.OUT, status=Message.Status.SENDING, created_at__lt=now - timedelta(minutes=5)
    ).update(status=Message.Status.QUEUED, last_error="timeout: envio interrompido")
    stale_outbound = list(
        Message.objects.filter(direction=Message.Direction.OUT, status=Message.Status.QUEUED)
        .filter(created_at__lt=cutoff)
        .exclude(next_attempt_at__gt=cutoff)
        .values_list("pk", flat=True)
    )
    for message_id in stale_outbound:
        enqueue("conversations.jobs.send_message", message_id)
    return {"conversations": conversations, "sends": len(stale_outbound)}

"""Sending through the Whaticket client: once, with retries that classify errors like the contract."""

import time

import pytest

from conversations import services
from conversations.models import Contact, Message, WhaticketSettings
from conversations.tests.conftest import make_conversation


def _queued(conversation, body="Olá! Sua consulta está confirmada."):
    return services.outbound_queue(conversation=conversation, body=body)


def _reload(message):
    return Message.objects.get(pk=message.pk)


def test_a_reply_is_sent_once_even_when_its_job_runs_twice(connected):
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "sent"
    assert services.message_send(message_id=message.pk) == "not_queued"
    assert connected.sent == [
        {"number": "5511987654321", "body": "Olá! Sua consulta está confirmada.", "route": "send"}
    ]
    request = [r for r in connected.requests if r.path == "/api/messages/send"][0]
    assert request.headers["Authorization"] == f"Bearer {connected.api_token}"
    assert request.json == {"number": "5511987654321", "body": "Olá! Sua consulta está confirmada."}
    message = _reload(message)
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.sent_at is not None


def test_reply_goes_to_the_raw_whatsapp_digits(connected):
    contact = Contact.objects.create(phone="+5531988776655", wa_id="553188776655", name="João")
    from conversations.models import Conversation

    message = _queued(Conversation.objects.create(contact=contact))
    services.message_send(message_id=message.pk)
    assert connected.sent[0]["number"] == "553188776655"


def test_transient_error_is_retried_then_succeeds(connected, settings):
    connected.add_fault("send", status=400, body='{"error": "ERR_WAPP_NOT_INITIALIZED"}')
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "retry"
    retried = _reload(message)
    assert (retried.status, retried.attempts) == ("queued", 1)
    assert retried.last_error == "HTTP 400: ERR_WAPP_NOT_INITIALIZED"
    assert retried.next_attempt_at is not None
    assert services.message_send(message_id=message.pk) == "sent"
    assert len(connected.sent) == 1


def test_permanent_error_is_not_retried_and_flags_the_number(connected):
    connected.invalid_numbers.add("5511987654321")
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "failed"
    failed = _reload(message)
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "HTTP 400: ERR_CHECK_NUMBER")
    assert services.message_send(message_id=message.pk) == "not_queued"
    assert Contact.objects.get().flagged_at is not None
    assert connected.sent == []


def test_retries_stop_after_the_configured_attempts(connected, settings):
    settings.WHATICKET_RETRY_ATTEMPTS = 2
    connected.add_fault("send", times=2, status=500)
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "retry"
    assert services.message_send(message_id=message.pk) == "failed"
    assert _reload(message).status == "failed"


def test_a_timeout_is_retried_at_most_once(connected, settings):
    settings.WHATICKET_TIMEOUT_SECONDS = 0.3
    connected.add_fault("send", times=2, delay=0.6, body=None)
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "retry"
    assert services.message_send(message_id=message.pk) == "failed"
    assert _reload(message).last_error == "timeout"


def test_429_waits_retry_after(connected):
    connected.add_fault(
        "send", status=429, body="API rate limit exceeded", content_type="text/plain", headers={"Retry-After": "42"}
    )
    message = _queued(make_conversation())
    before = time.time()
    assert services.message_send(message_id=message.pk) == "retry"
    wait = _reload(message).next_attempt_at.timestamp() - before
    assert 41 <= wait <= 44


def test_html_502_from_a_proxy_is_transient(connected):
    connected.add_fault("send", status=502, body="<html>Bad Gateway</html>", content_type="text/html")
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "retry"


def test_wrong_token_is_a_configuration_failure_shown_to_staff(connected):
    WhaticketSettings.objects.update(bearer_token="token-errado")
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "failed"
    assert _reload(message).last_error.startswith("HTTP 403: Invalid token")


def test_without_whaticket_replies_are_stored_not_sent(in_alfa, whaticket):
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "stored"
    assert _reload(message).status == "stored"
    assert whaticket.requests == []


def test_resend_puts_a_failed_message_back_in_the_queue(connected):
    connected.invalid_numbers.add("5511987654321")
    message = _queued(make_conversation())
    services.message_send(message_id=message.pk)
    connected.invalid_numbers.clear()
    assert services.message_resend(message=_reload(message))
    assert services.message_send(message_id=message.pk) == "sent"


def test_mustache_braces_never_reach_whaticket(connected):
    message = _queued(make_conversation(), body="Olá {{name}}!")
    services.message_send(message_id=message.pk)
    assert "{{" not in connected.sent[0]["body"]


@pytest.mark.parametrize("flavour", ["community", "ticketz"])
def test_success_replies_of_other_flavours(connected, flavour):
    connected.flavour = flavour
    message = _queued(make_conversation())
    assert services.message_send(message_id=message.pk) == "sent"


# --- JWT mode ---------------------------------------------------------------------------------


@pytest.fixture
def jwt_mode(in_alfa, whaticket):
    from secretaria.redis import get_redis

    for key in get_redis().scan_iter("secretaria:whaticket:jwt:*"):
        get_redis().delete(key)
    WhaticketSettings.objects.create(api_url=whaticket.url, jwt_email="robo@clinica.test", jwt_password="senha-do-robo")
    whaticket.add_ticket(812, number="5511987654321")
    conversation = make_conversation()
    conversation.ticket_id = "812"
    conversation.save()
    return conversation


def test_jwt_mode_logs_in_once_and_replies_inside_the_ticket(jwt_mode, whaticket):
    for _ in range(2):
        services.message_send(message_id=_queued(jwt_mode).pk)
    assert whaticket.logins == 1
    assert [item["route"] for item in whaticket.sent] == ["ticket", "ticket"]
    assert [r.path for r in whaticket.requests if r.method == "POST"] == [
        "/auth/login",
        "/messages/812",
        "/messages/812",
    ]


def test_jwt_mode_logs_in_again_on_403(jwt_mode, whaticket):
    services.message_send(message_id=_queued(jwt_mode).pk)
    whaticket.revoke_tokens()
    assert services.message_send(message_id=_queued(jwt_mode).pk) == "sent"
    assert whaticket.logins == 2
    assert len(whaticket.sent) == 2


def test_jwt_token_is_not_used_past_its_expiry(jwt_mode, whaticket):
    whaticket.token_lifetime = 63  # cached until a minute before exp: about two seconds
    services.message_send(message_id=_queued(jwt_mode).pk)
    time.sleep(3.2)
    services.message_send(message_id=_queued(jwt_mode).pk)
    assert whaticket.logins == 2
    assert all(r.headers.get("Authorization") for r in whaticket.requests if r.path.startswith("/messages/"))


def test_jwt_mode_cannot_send_outside_a_ticket(jwt_mode, whaticket):
    jwt_mode.ticket_id = ""
    jwt_mode.save()
    message = _queued(jwt_mode)
    assert services.message_send(message_id=message.pk) == "failed"
    assert "token da conexão" in _reload(message).last_error


def test_jwt_mode_checks_the_ticket_and_stays_silent_when_a_person_took_it(jwt_mode, whaticket):
    whaticket.add_ticket(812, number="5511987654321", status="open", user_id=7)
    message = _queued(jwt_mode)
    assert services.message_send(message_id=message.pk) == "human"
    assert whaticket.sent == []
    jwt_mode.refresh_from_db()
    assert jwt_mode.state == "human"
    assert _reload(message).status == "stored"


def test_jwt_mode_finds_the_newest_ticket_by_number_when_none_is_known(jwt_mode, whaticket):
    jwt_mode.ticket_id = ""
    jwt_mode.save()
    whaticket.add_ticket(900, number="5511987654321", status="closed")
    whaticket.add_ticket(901, number="5511987654321", status="open", user_id=3)
    assert services.message_send(message_id=_queued(jwt_mode).pk) == "human"


def test_proactive_sends_are_paced_per_connection(connected, settings):
    from secretaria.redis import get_redis

    for key in get_redis().scan_iter("secretaria:whaticket:pace:*"):
        get_redis().delete(key)
    settings.WHATICKET_MAX_SENDS_PER_MINUTE = 2
    conversation = make_conversation()
    outcomes = [
        services.message_send(
            message_id=services.outbound_queue(conversation=conversation, body=f"lembrete {i}", kind="reminder").pk
        )
        for i in range(3)
    ]
    assert outcomes == ["sent", "sent", "paced"]
    assert len(connected.sent) == 2

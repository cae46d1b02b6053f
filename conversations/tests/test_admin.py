"""The painel's conversation screens work for clinic staff."""

import pytest

from conftest import STAFF_PASSWORD
from conversations.models import Conversation, Message
from conversations.tests.conftest import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, clinics):
    client.post(
        "/painel/login/",
        {"username": "staff@alfa.test", "password": STAFF_PASSWORD},
        headers={"Host": "alfa.localhost"},
    )
    return client


def test_conversation_lists_and_detail_render(staff, in_alfa):
    conversation = make_conversation()
    Message.objects.create(conversation=conversation, direction="in", body="Oi, tudo bem?", status="received")
    for path in [
        "/painel/conversations/conversation/",
        f"/painel/conversations/conversation/{conversation.pk}/change/",
        "/painel/conversations/message/",
        "/painel/conversations/contact/",
        "/painel/conversations/deadletter/",
        "/painel/conversations/whaticketsettings/add/",
    ]:
        response = staff.get(path, headers={"Host": "alfa.localhost"})
        assert response.status_code == 200, path
    detail = staff.get(
        f"/painel/conversations/conversation/{conversation.pk}/change/", headers={"Host": "alfa.localhost"}
    )
    assert "Oi, tudo bem?" in detail.content.decode()


def test_staff_hands_a_conversation_back_to_the_bot(staff, in_alfa):
    conversation = make_conversation()
    Conversation.objects.filter(pk=conversation.pk).update(state="human")
    response = staff.post(
        "/painel/conversations/conversation/",
        {"action": "hand_back_to_bot", "_selected_action": [conversation.pk]},
        headers={"Host": "alfa.localhost"},
    )
    assert response.status_code == 302
    assert Conversation.objects.get(pk=conversation.pk).state == "bot"


def test_staff_resends_a_failed_message(staff, in_alfa, django_capture_on_commit_callbacks):
    conversation = make_conversation()
    failed = Message.objects.create(conversation=conversation, direction="out", body="x", status="failed", attempts=6)
    staff.post(
        "/painel/conversations/message/",
        {"action": "resend", "_selected_action": [failed.pk]},
        headers={"Host": "alfa.localhost"},
    )
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("queued", 0)

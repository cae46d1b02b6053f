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


def _assistant_form(**overrides):
    data = {
        "secretary_name": "Lia",
        "tone": "cordial",
        "extra_instructions": "",
        "about": "",
        "address": "Rua A, 1",
        "phone": "",
        "insurance_plans": "Unimed",
        "payment_methods": "Pix",
        "privacy_notice": "",
        "llm_provider": "openai",
        "llm_model": "",
        "llm_api_key": "",
        "llm_base_url": "",
    }
    data.update(overrides)
    return data


def test_staff_edit_the_secretary_and_the_key_is_never_shown_back(staff, in_alfa):
    from conversations.models import AssistantSettings, FaqEntry

    host = {"Host": "alfa.localhost"}
    response = staff.post(
        "/painel/conversations/assistantsettings/add/", _assistant_form(llm_api_key="sk-secreta"), headers=host
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = AssistantSettings.objects.get()
    assert row.llm_api_key == "sk-secreta" and row.llm_provider == "openai"
    page = staff.get(f"/painel/conversations/assistantsettings/{row.pk}/change/", headers=host).content.decode()
    assert "sk-secreta" not in page
    # saved again with the key left blank: kept
    staff.post(
        f"/painel/conversations/assistantsettings/{row.pk}/change/", _assistant_form(address="Rua B, 2"), headers=host
    )
    row.refresh_from_db()
    assert row.address == "Rua B, 2" and row.llm_api_key == "sk-secreta"
    # ticked "apagar": cleared (the global key applies again)
    staff.post(
        f"/painel/conversations/assistantsettings/{row.pk}/change/", _assistant_form(clear_api_key="on"), headers=host
    )
    row.refresh_from_db()
    assert row.llm_api_key == ""
    staff.post(
        "/painel/conversations/faqentry/add/",
        {"topic": "parking", "question": "Tem estacionamento?", "answer": "Sim, no prédio.", "order": 0},
        headers=host,
    )
    assert FaqEntry.objects.get().answer == "Sim, no prédio."
    assert staff.get("/painel/conversations/faqentry/", headers=host).status_code == 200

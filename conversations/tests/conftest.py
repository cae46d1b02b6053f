"""Helpers for the pipeline's tests: signed deliveries through Django's test client."""

import json

import pytest

from secretaria.testing import whaticket_payloads as payloads


class Poster:
    def __init__(self, client, capture):
        self.client = client
        self.capture = capture

    def post(
        self,
        clinic,
        payload=None,
        *,
        mode="hmac",
        secret=None,
        token=None,
        timestamp=None,
        raw=None,
        host=None,
        headers=None,
    ):
        body = raw if raw is not None else json.dumps(payload).encode()
        extra = dict(headers or {})
        path = "/webhook/whaticket"
        if mode == "hmac":
            extra.update(payloads.sign(secret if secret is not None else clinic.webhook_secret, body, timestamp))
        elif mode == "header_token":
            extra["X-Webhook-Token"] = token if token is not None else clinic.webhook_token
        elif mode == "url_token":
            path = f"/webhook/whaticket/{token if token is not None else clinic.webhook_token}"
        with self.capture(execute=True):
            return self.client.post(
                path,
                data=body,
                content_type="application/json",
                headers={"Host": host or f"{clinic.schema_name}.localhost", **extra},
            )


@pytest.fixture
def webhook(db, client, django_capture_on_commit_callbacks, clinics):
    return Poster(client, django_capture_on_commit_callbacks)


@pytest.fixture(scope="session")
def fake_whaticket():
    from secretaria.testing.fake_whaticket import FakeWhaticket

    fake = FakeWhaticket().start()
    yield fake
    fake.stop()


@pytest.fixture
def whaticket(fake_whaticket):
    """The fake, reset, with default flavour and credentials."""
    fake_whaticket.reset()
    fake_whaticket.flavour = "saas"
    fake_whaticket.invalid_numbers.clear()
    fake_whaticket.token_lifetime = 900
    yield fake_whaticket
    fake_whaticket.reset()


@pytest.fixture
def in_alfa(db, clinics):
    """Run the test body inside clinic alfa's schema and time zone."""
    from django.db import connection
    from django.utils import timezone

    connection.set_tenant(clinics.alfa)
    timezone.activate("America/Sao_Paulo")
    yield clinics.alfa
    timezone.deactivate()
    connection.set_schema_to_public()


@pytest.fixture
def connected(in_alfa, whaticket):
    """Clinic alfa's Whaticket points at the fake, in token mode."""
    from conversations.models import WhaticketSettings

    WhaticketSettings.objects.create(api_url=whaticket.url, bearer_token=whaticket.api_token)
    return whaticket


def make_conversation(phone="+5511987654321", name="Maria Souza"):
    from conversations.models import Contact, Conversation

    contact = Contact.objects.create(phone=phone, wa_id=phone.lstrip("+"), name=name)
    return Conversation.objects.create(contact=contact)

"""The fake Whaticket answers like the contract's flavours (so tests of our client mean something)."""

import pytest
import requests

from secretaria.testing.fake_whaticket import FakeWhaticket


@pytest.fixture(scope="module")
def fake():
    with FakeWhaticket() as running:
        yield running


def _send(fake, token="default", **kwargs):
    headers = {} if token is None else {"Authorization": f"Bearer {fake.api_token if token == 'default' else token}"}
    return requests.post(f"{fake.url}/api/messages/send", headers=headers, timeout=5, **kwargs)


def test_send_answers_per_the_contract(fake):
    fake.reset()
    assert _send(fake, token=None, json={"number": "5511", "body": "x"}).json() == {"error": "ERR_SESSION_EXPIRED"}
    assert _send(fake, token="jwt.like.token", json={"number": "5511", "body": "x"}).status_code == 403
    assert _send(fake, json={"number": "55 11 9x", "body": "x"}).json()["error"].startswith("Invalid number format")
    assert _send(fake, json={"number": 5511987654321, "body": "x"}).status_code == 500
    assert _send(fake, json={"number": "5511987654321", "body": "Olá"}).json() == {"status": "SUCCESS"}
    assert fake.sent == [{"number": "5511987654321", "body": "Olá", "route": "send"}]


def test_multipart_media_sends_are_recorded(fake):
    fake.reset()
    response = _send(
        fake,
        data={"number": "5511987654321", "body": "seu exame"},
        files={"medias": ("exame.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert response.status_code == 200
    assert fake.sent == [{"number": "5511987654321", "body": "seu exame", "route": "send", "medias": ["exame.pdf"]}]


def test_faults_are_consumed_in_order(fake):
    fake.reset()
    fake.add_fault("send", status=400, body='{"error": "ERR_WAPP_NOT_INITIALIZED"}')
    first = _send(fake, json={"number": "5511987654321", "body": "x"})
    second = _send(fake, json={"number": "5511987654321", "body": "x"})
    assert (first.status_code, second.status_code) == (400, 200)

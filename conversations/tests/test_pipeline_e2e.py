"""The whole pipeline with real processes: gunicorn intake -> RQ worker -> fake Whaticket over HTTP."""

import time

import pytest
import requests
from django_tenants.utils import schema_context

from conversations.models import Message
from secretaria.testing.fake_whaticket import FakeWhaticket
from secretaria.testing.processes import gunicorn, rq_worker
from secretaria.testing.scrape import sample_value
from secretaria.testing.whaticket_payloads import WebhookEmitter, variant_a
from tenants.models import Clinic
from tenants.services import clinic_provision

pytestmark = pytest.mark.integration


@pytest.fixture
def eco(committed):
    """A clinic of its own, committed so the server and the worker see it; dropped afterwards."""
    clinic = clinic_provision(slug="eco", name="Clínica Eco", domains=["eco.localhost"]).clinic
    yield clinic
    Clinic.objects.get(pk=clinic.pk).delete(force_drop=True)


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_burst_of_four_messages_gets_one_reply_that_saw_all_four(eco, tmp_path):
    with FakeWhaticket() as fake:
        env = {
            "DEBOUNCE_SECONDS": "2.5",
            "WHATSAPP_API_URL": fake.url,
            "WHATSAPP_BEARER_TOKEN": fake.api_token,
        }
        with (
            gunicorn(workers=1, env=env, log_path=tmp_path / "web.log") as base,
            rq_worker(env=env, log_path=tmp_path / "worker.log") as (_, worker_metrics),
        ):
            emitter = WebhookEmitter(base_url=base, host="eco.localhost", secret=eco.webhook_secret)
            texts = ["Oi", "bom dia", "queria marcar uma consulta", "com a Dra. Ana"]
            sent_payloads = []
            started = time.monotonic()
            for index, text in enumerate(texts):
                # one second apart, on a fixed schedule whatever each request costs
                time.sleep(max(0.0, started + index - time.monotonic()))
                payload = variant_a(number="5531988001122", text=text, message_id=f"BURST{index}", name="Rita")
                sent_payloads.append(payload)
                response = emitter.post(payload)
                assert response.status_code == 202, response.text
            assert _wait(lambda: len(fake.sent) >= 1), (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(3.0)  # a second reply would have come by now

            # Whaticket restarts replay unread messages: the repeat is stored once, answered never.
            assert emitter.post(sent_payloads[0]).json() == {"queued": False, "duplicate": True}
            time.sleep(2.5)
            web_metrics = requests.get(f"{base}/metrics", headers={"Host": "localhost"}, timeout=5).text
            job_metrics = requests.get(worker_metrics, timeout=5).text

    assert len(fake.sent) == 1
    assert fake.sent[0]["number"] == "5531988001122"
    # the fourth message named the professional: the reply answers the whole burst, not "Oi"
    assert "Não encontrei horários livres" in fake.sent[0]["body"]  # Clínica Eco has no agenda
    with schema_context("eco"):
        inbound = list(Message.objects.filter(direction="in").order_by("id"))
        reply = Message.objects.get(direction="out")
    assert [m.body for m in inbound] == texts
    assert {m.status for m in inbound} == {"processed"}
    assert len({m.processed_at for m in inbound}) == 1  # claimed together: the reply saw all four
    assert reply.status == "sent" and reply.reply_to_id == inbound[-1].pk
    assert sample_value(web_metrics, "secretaria_webhook_received_total", tenant="eco", outcome="queued") == 4
    assert sample_value(web_metrics, "secretaria_webhook_received_total", tenant="eco", outcome="duplicate") == 1
    assert sample_value(job_metrics, "secretaria_messages_processed_total", tenant="eco") == 4
    assert sample_value(job_metrics, "secretaria_whaticket_send_total", tenant="eco", outcome="sent") == 1
    assert "secretaria_message_end_to_end_seconds_count 1.0" in job_metrics


def test_url_tokens_never_reach_the_logs(clinics, committed, tmp_path):
    token = "SeCrEtToKeN" + "x" * 30
    log = tmp_path / "web.log"
    with gunicorn(workers=1, log_path=log) as base:
        response = requests.post(
            f"{base}/webhook/whaticket/{token}", data=b"{}", headers={"Host": "alfa.localhost"}, timeout=5
        )
        assert response.status_code == 401
        time.sleep(0.5)
    text = log.read_text()
    assert "/webhook/whaticket/SeCr***" in text
    assert token not in text

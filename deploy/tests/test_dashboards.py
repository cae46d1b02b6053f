"""The Grafana dashboards against a real Prometheus scraping the real product.

Prometheus (Debian's binary) scrapes gunicorn's `/metrics` (multiprocess mode), the RQ
worker's metrics port and Debian's Redis, PostgreSQL and node exporters every second while a
small workload runs in a clinic of the test's own: signed webhooks (one with a bad signature),
replies to a fake Whaticket (one to a number without WhatsApp), a handoff, bookings through
the appointments API (one on a taken slot), a cancellation, a completed and a no-show, a
reminder sent by the worker and answered. Then every expression of every panel and every
alert rule goes through Prometheus' query API: each must parse; every panel of a feature
that exists must return a number (not only NaN) on series that carry the labels it groups
by; every metric a panel or an alert names must be exported by the product or an exporter,
or belong to a feature not built yet (FEATURES_NOT_BUILT), whose panels must stay empty.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from secretaria.testing.fake_llm import FakeLLM
from secretaria.testing.fake_whaticket import FakeWhaticket
from secretaria.testing.processes import free_port, gunicorn, rq_worker, wait_http
from secretaria.testing.tools import require_tool
from secretaria.testing.whaticket_payloads import WebhookEmitter, variant_a

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DASHBOARDS = BASE_DIR / "deploy" / "grafana" / "dashboards"
DASHBOARD_FILES = ("agenda_overview.json", "business_ai.json")
RULES = BASE_DIR / "deploy" / "prometheus" / "alert.rules.yml"
DATASOURCES = BASE_DIR / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# Metric prefixes of features that do not exist yet. Their panels and alerts must parse, but
# nothing exports them: a panel that uses only these may be empty, and must be, so that when
# the feature lands this list is updated (and its panels then have to return data).
FEATURES_NOT_BUILT = {
    "appointment_followups_": "follow-ups after the appointment: not built yet",
}

# Grafana's variables, as the test substitutes them.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}

PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def _dashboard(name: str) -> dict:
    return json.loads((DASHBOARDS / name).read_text())


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def _alerts() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small tokenizer, enough for our rules)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if word.lower() in PROMQL_WORDS or following.startswith("("):
            continue  # an operator keyword, or a function / aggregation
        if match.start() and text[match.start() - 1].isdigit():
            continue  # the unit of a duration or a number's exponent
        names.add(word)
    return names


def grouping_labels(expr: str) -> set[str]:
    """The labels of every `by (...)` of an expression, but `le` (histogram_quantile consumes it)."""
    labels = set()
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        labels.update(label.strip() for label in group.split(",") if label.strip())
    return labels - {"le"}


def _not_built(name: str) -> bool:
    return name.startswith(tuple(FEATURES_NOT_BUILT))


def _substitute(expr: str, tenant: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr.replace("$tenant", tenant)


# --- static checks -------------------------------------------------------------------------------


def test_metric_names_reads_selectors_not_functions_or_labels():
    expr = 'sum by (le, job) (rate(a_bucket{x="b(c)"}[5m])) / on (i) max(b_total offset 1h) > 1e3 or absent(up)'
    assert metric_names(expr) == {"a_bucket", "b_total", "up"}
    assert grouping_labels(expr) == {"job"}


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboards_use_the_provisioned_datasource_and_a_tenant_variable(name):
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    dashboard = _dashboard(name)
    assert dashboard["uid"] and dashboard["title"]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "tenant"]
    assert variable["datasource"]["uid"] == uid
    assert variable["query"]["query"].startswith("label_values(")
    assert variable["allValue"] == ".*"
    panels = _panels(dashboard)
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert metric_names(target["expr"]), target["expr"]
            # `job` is the scrape target's label (app, worker); the product names its own `task`
            assert "job" not in grouping_labels(target["expr"]), target["expr"]
            assert "{{job}}" not in target["legendFormat"], panel["title"]


# --- against a real Prometheus --------------------------------------------------------------------


@contextmanager
def _process(args: list[str], *, env: dict | None = None, log: Path, url: str):
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(url, proc=proc, timeout=20)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _exporters(stack: ExitStack, tmp_path: Path) -> dict[str, str]:
    """Redis, PostgreSQL and node exporters on free ports; {job: target}."""
    redis_exporter = require_tool("prometheus-redis-exporter", "prometheus-redis-exporter")
    postgres_exporter = require_tool("prometheus-postgres-exporter", "prometheus-postgres-exporter")
    node_exporter = require_tool("prometheus-node-exporter", "prometheus-node-exporter")
    targets = {}
    # Credentials go through the environment, never the command line.
    redis_url = re.match(r"(rediss?://[^/]*)(?:/(\d+))?", settings.REDIS_URL)
    port = free_port()
    stack.enter_context(
        _process(
            [redis_exporter, f"-web.listen-address=127.0.0.1:{port}", "-redis-only-metrics"],
            env={"REDIS_ADDR": redis_url.group(1)},
            log=tmp_path / "redis_exporter.log",
            url=f"http://127.0.0.1:{port}/metrics",
        )
    )
    targets["redis"] = f"127.0.0.1:{port}"
    db = connection.settings_dict
    port = free_port()
    user, password = quote(db["USER"], safe=""), quote(db["PASSWORD"], safe="")
    dsn = f"postgresql://{user}:{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}?sslmode=disable"
    stack.enter_context(
        _process(
            [postgres_exporter, f"--web.listen-address=127.0.0.1:{port}"],
            env={"DATA_SOURCE_NAME": dsn},
            log=tmp_path / "postgres_exporter.log",
            url=f"http://127.0.0.1:{port}/metrics",
        )
    )
    targets["postgres"] = f"127.0.0.1:{port}"
    port = free_port()
    stack.enter_context(
        _process(
            [
                node_exporter,
                f"--web.listen-address=127.0.0.1:{port}",
                "--collector.disable-defaults",
                "--collector.filesystem",
            ],
            log=tmp_path / "node_exporter.log",
            url=f"http://127.0.0.1:{port}/metrics",
        )
    )
    targets["node"] = f"127.0.0.1:{port}"
    return targets


def _prometheus(stack: ExitStack, tmp_path: Path, targets: dict[str, str]) -> str:
    binary = require_tool("prometheus", "prometheus")
    port = free_port()
    targets = {**targets, "prometheus": f"127.0.0.1:{port}"}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    stack.enter_context(
        _process(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            log=tmp_path / "prometheus.log",
            url=f"{url}/-/ready",
        )
    )
    return url


def _query(prometheus: str, expr: str) -> dict:
    response = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    return response.json()


def _wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def observed(committed):
    """A committed clinic of the test's own, with an agenda and an API key; dropped afterwards."""
    from agenda.apikeys import api_key_create
    from agenda.tests.conftest import build_agenda
    from tenants.models import Clinic
    from tenants.services import clinic_provision

    clinic = clinic_provision(slug="obs", name="Clínica Observada", domains=["obs.localhost"]).clinic
    with schema_context(clinic.schema_name):
        timezone.activate(clinic.time_zone)
        agenda = build_agenda()
        from conversations.models import AssistantSettings

        AssistantSettings.objects.create(llm_provider="openai", llm_api_key="sk-obs")  # the fake LLM
        _, key = api_key_create(name="painéis")
        timezone.deactivate()
    yield clinic, agenda, key
    Clinic.objects.get(pk=clinic.pk).delete(force_drop=True)


class Workload:
    """What a clinic does in a day, compressed: every counter the dashboards read moves."""

    def __init__(self, *, base: str, clinic, agenda: dict, key: str, fake: FakeWhaticket):
        self.base, self.clinic, self.agenda, self.key, self.fake = base, clinic, agenda, key, fake
        self.emitter = WebhookEmitter(base_url=base, host="obs.localhost", secret=clinic.webhook_secret)
        self.forger = WebhookEmitter(base_url=base, host="obs.localhost", secret="not-the-clinic-secret")
        self.zone = ZoneInfo(clinic.time_zone)
        today = timezone.localdate()
        self.day = today + timedelta(days=7 + (7 - today.weekday()) % 7)  # a Monday, 7-13 days ahead

    def _api(self, path: str, **data) -> requests.Response:
        return requests.post(
            f"{self.base}/api/agenda/appointments{path}",
            json=data,
            headers={"Host": "obs.localhost", "Authorization": f"Bearer {self.key}"},
            timeout=10,
        )

    def _book(self, hour: int, minute: int, *, professional: str = "ana", phone: str = "") -> requests.Response:
        start = datetime.combine(self.day, dtime(hour, minute), tzinfo=self.zone)
        return self._api(
            "",
            service=self.agenda["consulta"].pk,
            professional=self.agenda[professional].pk,
            start=start.isoformat(),
            patient_name="Paciente Teste",
            **({"patient_phone": phone} if phone else {}),
        )

    def _sent_to(self, number: str) -> int:
        return sum(1 for item in self.fake.sent if item["number"] == number)

    def round(self, index: int) -> None:
        from agenda.models import Appointment, Reminder
        from secretaria.queue import enqueue_now

        schema = self.clinic.schema_name
        # messages: one answered, one to a number without WhatsApp, a forged one, a repeat, a handoff
        patient, invalid, person = (f"55319880{index}1{n}00" for n in (1, 2, 3))
        self.fake.invalid_numbers.add(invalid)
        hello = variant_a(number=patient, text="Oi, bom dia")
        assert self.emitter.post(hello).status_code == 202
        assert self.emitter.post(hello).json().get("duplicate") is True
        assert self.emitter.post(variant_a(number=invalid, text="Olá")).status_code == 202
        assert self.forger.post(variant_a(number=patient, text="forjada")).status_code == 401
        assert self.emitter.post(variant_a(number=person, text="quero falar com um atendente")).status_code == 202

        # the agenda through the API: bookings, a taken slot, a cancellation, completed and no-show
        minute = 30 * index
        booked = [self._book(9, minute), self._book(10, minute), self._book(11, minute), self._book(14, minute)]
        assert [r.status_code for r in booked] == [201] * 4, [r.text for r in booked]
        assert self._book(9, minute).status_code == 409  # SlotTaken
        assert self._api(f"/{booked[0].json()['id']}/cancel", reason="imprevisto").status_code == 200
        with schema_context(schema):
            for hours, response in enumerate(booked[1:3], start=1 + 2 * index):
                past = timezone.now() - timedelta(hours=hours)  # visits that already ended, one at a time
                Appointment.objects.filter(pk=response.json()["id"]).update(
                    start=past, end=past + timedelta(minutes=30)
                )
        assert self._api(f"/{booked[1].json()['id']}/mark", status="completed").status_code == 200
        assert self._api(f"/{booked[2].json()['id']}/mark", status="no_show").status_code == 200

        # a reminder, due now, sent by the worker's job; the patient confirms with "1"
        reminded = f"55319880{index}1400"
        appointment = self._book(16, minute, professional="bruno", phone=f"+{reminded}")
        assert appointment.status_code == 201, appointment.text
        with schema_context(schema):
            Reminder.objects.filter(appointment_id=appointment.json()["id"], offset_hours=24).update(
                due_at=timezone.now() - timedelta(minutes=1)
            )
        enqueue_now("agenda.jobs.send_due_reminders", schema_name=schema)
        _wait(lambda: self._sent_to(reminded) >= 1, what="the reminder")
        assert self.emitter.post(variant_a(number=reminded, text="1")).status_code == 202
        _wait(lambda: self._sent_to(reminded) >= 2, what="the answer to the reminder")
        _wait(lambda: self._sent_to(patient) >= 1 and self._sent_to(person) >= 1, what="the replies")
        with schema_context(schema):
            assert Appointment.objects.get(pk=appointment.json()["id"]).status == "confirmed"


@pytest.mark.integration
def test_every_panel_and_alert_query_against_a_real_prometheus(observed, tmp_path):
    clinic, agenda, key = observed
    multiproc = tmp_path / "multiproc"
    started = time.monotonic()
    with ExitStack() as stack:
        fake = stack.enter_context(FakeWhaticket())
        llm = stack.enter_context(FakeLLM())
        llm.openai.error(503)  # one failed call (the local engine answers that turn), then answers
        llm.openai.reply("Olá! Como posso ajudar?", times=100)
        env = {
            "DEBOUNCE_SECONDS": "0.3",
            "WHATSAPP_API_URL": fake.url,
            "WHATSAPP_BEARER_TOKEN": fake.api_token,
            "OPENAI_BASE_URL": llm.openai_url,
            "LLM_RETRY_ATTEMPTS": "0",
        }
        base = stack.enter_context(
            gunicorn(workers=2, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}, log_path=tmp_path / "web.log")
        )
        _, worker_metrics = stack.enter_context(rq_worker(env=env, log_path=tmp_path / "worker.log"))
        targets = {
            "app": base.removeprefix("http://"),
            "worker": worker_metrics.removeprefix("http://").removesuffix("/metrics"),
            **_exporters(stack, tmp_path),
        }
        prometheus = _prometheus(stack, tmp_path, targets)

        def every_target_up():
            up = _query(prometheus, "up == 1")["data"]["result"]
            return len(up) == len(targets) + 1  # and Prometheus itself

        # Prometheus applies new targets in batches every 5 s: before that nothing is scraped.
        _wait(every_target_up, what="Prometheus to scrape every target")

        workload = Workload(base=base, clinic=clinic, agenda=agenda, key=key, fake=fake)
        try:
            workload.round(0)
            time.sleep(2.5)  # two scrapes apart: counters move between samples, so increase() sees it
            workload.round(1)
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-4000:])
            raise

        def scraped_everything():
            result = _query(prometheus, 'sum(secretaria_reminder_answers_total{answer="confirm"})')["data"]["result"]
            up = _query(prometheus, "min(up)")["data"]["result"]
            return result and float(result[0]["value"][1]) >= 2 and up and up[0]["value"][1] == "1"

        _wait(scraped_everything, what="Prometheus to scrape the workload")
        time.sleep(1.5)  # one more scrape of every target

        # the exporters really read the test's Redis and PostgreSQL
        for probe in ("redis_up", "pg_up"):
            assert [r["value"][1] for r in _query(prometheus, probe)["data"]["result"]] == ["1"], probe
        exported = set(requests.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"])
        failures, empty_as_expected, with_data = [], [], []
        for name in DASHBOARD_FILES:
            for panel in _panels(_dashboard(name)):
                for target in panel["targets"]:
                    for tenant in (".*", clinic.schema_name):
                        expr = _substitute(target["expr"], tenant)
                        answer = _query(prometheus, expr)
                        label = f"{name} / {panel['title']} [{target['refId']}] tenant={tenant}: {expr}"
                        if answer["status"] != "success":
                            failures.append(f"{label}: {answer.get('error')}")
                            continue
                        names = metric_names(expr)
                        not_built = {n for n in names if _not_built(n)}
                        if not_built:
                            if answer["data"]["result"]:
                                failures.append(f"{label}: returns data, remove {not_built} from FEATURES_NOT_BUILT")
                            else:
                                empty_as_expected.append(label)
                        elif not answer["data"]["result"]:
                            failures.append(f"{label}: no data")
                        else:
                            values = [sample["value"][1] for sample in answer["data"]["result"]]
                            if all(value in ("NaN", "+Inf", "-Inf") for value in values):
                                failures.append(f"{label}: no number, only {values}")
                            # a legend's label must exist on the series
                            seen = {key for sample in answer["data"]["result"] for key in sample["metric"]}
                            lost = grouping_labels(expr) - seen
                            if lost:
                                failures.append(f"{label}: grouped by labels no series has: {lost}")
                            with_data.append(f"{label} -> {values}")
                        missing = {n for n in names - exported if not _not_built(n)}
                        if missing:
                            failures.append(f"{label}: metrics nobody exports: {missing}")
        for alert, expr in _alerts().items():
            answer = _query(prometheus, expr)
            if answer["status"] != "success":
                failures.append(f"alert {alert}: {answer.get('error')}")
            missing = {n for n in metric_names(expr) - exported if not _not_built(n)}
            if missing:
                failures.append(f"alert {alert}: metrics nobody exports: {missing}")

    elapsed = time.monotonic() - started
    print("\n".join(with_data))
    print(f"{len(with_data)} panel queries with data, {len(empty_as_expected)} empty (not built), {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    assert with_data  # (every panel's feature exists now; only a follow-up alert waits for its metric)

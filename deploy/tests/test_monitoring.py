"""Prometheus, Alertmanager and Grafana provisioning: valid for their own checkers, every
alert unit-tested both ways, and every target pointing at a real compose service."""

import os
import re
import subprocess
from pathlib import Path

import yaml

from secretaria.testing.tools import require_tool

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PROMETHEUS = BASE_DIR / "deploy" / "prometheus"
ALERTMANAGER = BASE_DIR / "deploy" / "alertmanager"
GRAFANA = BASE_DIR / "deploy" / "grafana"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
SERVICES = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]
ALERTS = {
    "AppDown",
    "WorkerHeartbeatMissing",
    "WebhookErrorRatio",
    "QueueBacklogGrowing",
    "LLMErrorRatio",
    "LLMCircuitOpen",
    "WhaticketSendFailures",
    "CalcomErrors",
    "FollowupsFailing",
    "RemindersNotSent",
    "PostgresConnectionsHigh",
    "DiskNearlyFull",
}


def _run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd)


def _rules() -> dict[str, dict]:
    groups = yaml.safe_load((PROMETHEUS / "alert.rules.yml").read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_promtool_accepts_the_config_and_the_rules():
    promtool = require_tool("promtool", "prometheus")
    config = _run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout
    rules = _run(promtool, "check", "rules", str(PROMETHEUS / "alert.rules.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_rule_unit_tests_pass():
    promtool = require_tool("promtool", "prometheus")
    assert RULE_TESTS
    result = _run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_required_alerts_exist_with_a_severity():
    rules = _rules()
    assert set(rules) == ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name


def test_every_alert_is_unit_tested_firing_and_quiet():
    firing, quiet = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == ALERTS, f"no firing case for {ALERTS - firing}"
    assert quiet == ALERTS, f"no quiet case for {ALERTS - quiet}"


def test_alerts_use_the_metric_names_the_product_exports():
    rules = _rules()
    assert "secretaria_queue_jobs" in rules["QueueBacklogGrowing"]["expr"]
    assert "django_http_responses_total_by_status_view_method_total" in rules["WebhookErrorRatio"]["expr"]
    assert 'up{job="worker"}' in rules["WorkerHeartbeatMissing"]["expr"]
    source = (BASE_DIR / "secretaria" / "metrics.py").read_text()
    for metric in ("secretaria_queue_jobs", "secretaria_whaticket_send_total"):
        assert f'"{metric.removesuffix("_total")}' in source, metric
    from django_prometheus.middleware import Metrics

    names = {collector._name for collector in Metrics.get_instance().__dict__.values() if hasattr(collector, "_name")}
    assert "django_http_responses_total_by_status_view_method" in names


def test_every_scrape_target_is_a_compose_service_on_its_port():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets["app"] == "app:8080" and targets["worker"] == "worker:9101"
    assert {"prometheus", "redis", "postgres", "node"} <= set(targets)
    for job, target in targets.items():
        host, port = target.split(":")
        if host != "localhost":
            assert host in SERVICES, f"{job}: no compose service {host}"
            assert port in " ".join(map(str, SERVICES[host]["healthcheck"]["test"])) or host in ("app", "worker"), job
    assert SERVICES["worker"]["environment"]["WORKER_METRICS_PORT"] == "9101"
    assert "app" in SERVICES["app"]["environment"]["INTERNAL_HOSTS"].split(",")
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]


def test_amtool_accepts_the_alertmanager_config():
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = _run(amtool, "check-config", str(ALERTMANAGER / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_entrypoint_renders_the_webhook_url_and_amtool_accepts_the_result(tmp_path):
    amtool = require_tool("amtool", "prometheus-alertmanager")
    url = "https://hooks.example.com/alerts?token=a&b=c|d'e"
    rendered = tmp_path / "alertmanager.yml"
    env = {
        "PATH": os.environ["PATH"],
        "MONITORING_WEBHOOK_URL": url,
        "ALERTMANAGER_TEMPLATE": str(ALERTMANAGER / "alertmanager.yml"),
        "ALERTMANAGER_RENDERED": str(rendered),
    }
    result = subprocess.run(
        ["sh", str(ALERTMANAGER / "entrypoint.sh"), amtool, "check-config", str(rendered)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(rendered.read_text())
    assert config["receivers"][0]["webhook_configs"][0]["url"] == url
    assert oct(rendered.stat().st_mode & 0o777) == oct(0o600)  # the URL is a secret


def test_compose_runs_alertmanager_through_the_entrypoint():
    service = SERVICES["alertmanager"]
    assert service["entrypoint"] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in service["volumes"]
    assert "--config.file=/alertmanager/alertmanager.yml" in service["command"]
    assert service["environment"]["MONITORING_WEBHOOK_URL"].startswith("${MONITORING_WEBHOOK_URL")
    assert not service.get("ports")


def test_grafana_provisions_prometheus_and_the_dashboards_folder():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (dashboards,) = provider["providers"]
    mounts = dict(reversed(volume.split(":")[:2]) for volume in SERVICES["grafana"]["volumes"])
    assert mounts[dashboards["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert re.match(r"grafana/grafana:\d", SERVICES["grafana"]["image"])


def test_without_a_webhook_url_the_entrypoint_warns_and_alertmanager_still_starts(tmp_path):
    amtool = require_tool("amtool", "prometheus-alertmanager")
    rendered = tmp_path / "alertmanager.yml"
    env = {
        "PATH": os.environ["PATH"],
        "ALERTMANAGER_TEMPLATE": str(ALERTMANAGER / "alertmanager.yml"),
        "ALERTMANAGER_RENDERED": str(rendered),
    }
    result = subprocess.run(
        ["sh", str(ALERTMANAGER / "entrypoint.sh"), amtool, "check-config", str(rendered)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MONITORING_WEBHOOK_URL is empty" in result.stderr

"""docker-compose.yml (and its aliases/overrides): valid for Compose, and the properties the
operator relies on: private networks, healthchecks, restarts, memory, logs, no public ports."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from secretaria.testing.tools import require_tool

BASE_DIR = Path(__file__).resolve().parent.parent.parent
COMPOSE = BASE_DIR / "docker-compose.yml"
SPEC = yaml.safe_load(COMPOSE.read_text())
SERVICES = SPEC["services"]
ONE_SHOT = {"migrate"}
APP_IMAGE_SERVICES = {"migrate", "app", "worker", "periodic"}
EXPORTERS = {"redis_exporter", "postgres_exporter", "node_exporter"}
PUBLISHED = {"app": "127.0.0.1:8080:8080", "prometheus": "127.0.0.1:9090:9090", "grafana": "127.0.0.1:3000:3000"}
UNITS = {"k": 1 / 1024, "m": 1, "g": 1024}


def _mib(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([kmg])b?", str(value).lower()).groups()
    return int(number) * UNITS[unit]


@pytest.fixture
def project(tmp_path):
    """The compose files with a .env made from .env.example and the secrets compose demands."""
    for name in ("docker-compose.yml", "docker-compose.prod.yml", "docker-compose.traefik.yml"):
        shutil.copy(BASE_DIR / name, tmp_path / name, follow_symlinks=False)  # the alias stays an alias
    env = (BASE_DIR / ".env.example").read_text()
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        env = re.sub(rf"^{name}=.*$", f"{name}=0123456789abcdef", env, flags=re.M)
    env = re.sub(r"^PUBLIC_HOST=.*$", "PUBLIC_HOST=api.example.com", env, flags=re.M)
    (tmp_path / ".env").write_text(env)
    return tmp_path


@pytest.mark.parametrize(
    "files",
    [
        ["docker-compose.yml"],
        ["docker-compose.prod.yml"],
        ["docker-compose.prod.yml", "docker-compose.traefik.yml"],
    ],
)
def test_docker_compose_accepts_the_files(project, files):
    tool = require_tool("docker-compose", "docker-compose")
    args = [item for name in files for item in ("-f", name)]
    result = subprocess.run([tool, *args, "config", "-q"], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_run_without_the_database_password(project):
    tool = require_tool("docker-compose", "docker-compose")
    env_file = project / ".env"
    env_file.write_text(re.sub(r"^POSTGRES_PASSWORD=.*$", "POSTGRES_PASSWORD=", env_file.read_text(), flags=re.M))
    result = subprocess.run([tool, "config", "-q"], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.traefik.yml"])
def test_the_compose_spec_schema_accepts_the_file(name):
    tool = require_tool("check-jsonschema", "check-jsonschema (pip, requirements/dev.txt)")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(BASE_DIR / name)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_seeds_prod_file_is_an_alias_of_the_stack():
    assert (BASE_DIR / "docker-compose.prod.yml").resolve() == COMPOSE.resolve()


def test_the_stack_has_every_service_of_the_guide():
    expected = APP_IMAGE_SERVICES | {"postgres", "redis", "prometheus", "alertmanager", "grafana"} | EXPORTERS
    assert set(SERVICES) == expected


def test_only_the_app_and_prometheus_are_on_the_public_network():
    for name, service in SERVICES.items():
        networks = set(service["networks"])
        if name in ("app", "prometheus"):
            assert networks == {"public", "internal"}, name
        else:
            assert networks == {"internal"}, name
    assert set(SPEC["networks"]) == {"public", "internal"}


def test_every_daemon_has_a_healthcheck_and_restarts_unless_stopped():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        assert service["restart"] == "unless-stopped", name
        check = service["healthcheck"]
        assert not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_the_app_healthcheck_uses_python_on_livez():
    test = SERVICES["app"]["healthcheck"]["test"]
    assert test[1] == "python" and "http://127.0.0.1:8080/livez" in test[-1]


def test_every_service_rotates_its_logs():
    for name, service in SERVICES.items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert _mib(logging["options"]["max-size"]) <= 50 and int(logging["options"]["max-file"]) >= 2, name


def test_memory_limits_fit_the_8_gb_vps_with_room_for_the_os():
    limits = {name: _mib(service["mem_limit"]) for name, service in SERVICES.items()}
    total = sum(limits.values())
    assert total <= 8 * 1024 - 1536, f"{total} MiB leaves under 1.5 GiB to the OS"
    stated = re.search(r"= (\d+) MiB", COMPOSE.read_text())
    assert stated and int(stated.group(1)) == total, "the comment's sum is out of date"
    for name, mib in limits.items():
        assert re.search(rf"\b{name} {int(mib)}\b", COMPOSE.read_text()), f"{name}'s limit is not in the comment"


def test_only_the_app_prometheus_and_grafana_publish_ports_and_only_on_loopback():
    for name, service in SERVICES.items():
        ports = service.get("ports", [])
        if name in PUBLISHED:
            assert ports == [PUBLISHED[name]], name
        else:
            assert ports == [], f"{name} must not publish a port"
        assert "expose" not in service or name in PUBLISHED


def test_the_app_waits_for_migrations_and_its_dependencies():
    depends = SERVICES["app"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["command"][:3] == ["python", "manage.py", "migrate_schemas"]
    assert "migrate" not in SERVICES["migrate"]["depends_on"]


def test_app_image_services_share_the_image_and_run_in_production():
    for name in APP_IMAGE_SERVICES:
        service = SERVICES[name]
        assert service["image"] == "secretaria-app:latest"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["env_file"] == ".env"
        assert service["environment"]["DJANGO_ENV"] == "production"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert "@redis:6379/" in service["environment"]["REDIS_URL"]
    app = SERVICES["app"]["environment"]
    assert app["USE_X_FORWARDED_PROTO"] == "true"
    assert app["BIND_ADDRESS"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert "app" in app["INTERNAL_HOSTS"].split(",")
    worker = SERVICES["worker"]
    assert worker["command"] == ["python", "manage.py", "rqworker", "default", "--with-scheduler", "--worker-ttl", "60"]
    assert worker["environment"]["WORKER_METRICS_ADDR"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert SERVICES["periodic"]["command"] == ["python", "manage.py", "run_periodic"]


def test_postgres_and_redis_take_their_passwords_from_the_environment():
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert SERVICES["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    command = " ".join(SERVICES["redis"]["command"])
    assert '--requirepass "$$REDIS_PASSWORD"' in command and "--appendonly yes" in command


def test_volumes_are_named_and_bind_mounts_exist():
    declared = set(SPEC["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (BASE_DIR / source).exists(), f"{name}: {source} does not exist"
            elif not source.startswith("/"):
                used.add(source)
    assert used == declared
    assert SERVICES["postgres"]["volumes"] == ["postgres_data:/var/lib/postgresql/data"]


def test_every_variable_compose_reads_is_documented_in_env_example():
    example = (BASE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    used = set()
    for name in ("docker-compose.yml", "docker-compose.traefik.yml"):
        used |= set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", (BASE_DIR / name).read_text()))
    assert used - documented == set()

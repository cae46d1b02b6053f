"""`manage.py backup` / `manage.py restore`: real pg_dump and pg_restore against the test
database; whole-database restores go into a scratch database created (and dropped) here."""

import secrets
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context
from psycopg import sql

from conversations.models import Contact
from tenants import backups
from tenants.backups import BackupError, backup_create, backup_restore


@pytest.fixture
def backup_dir(tmp_path, settings):
    folder = tmp_path / "backups"
    settings.BACKUP_DIR = str(folder)
    settings.BACKUP_KEEP = 14
    settings.BACKUP_ENCRYPTION_KEY = ""
    settings.BACKUP_COPY_COMMAND = ""
    settings.PG_BIN_DIR = ""
    return folder


def _connect(database):
    db = connection.settings_dict
    return psycopg.connect(
        dbname=database,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        autocommit=True,
    )


@pytest.fixture
def scratch_database(committed):
    """An empty database on the same server, dropped after the test."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with _connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with _connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def contacts(committed):
    """Rows in both clinics' schemas; removed after the test."""

    def add(schema, phone, name):
        with schema_context(schema):
            Contact.objects.create(phone=phone, wa_id=phone.lstrip("+"), name=name)

    yield add
    for schema in ("alfa", "beta"):
        with schema_context(schema):
            Contact.objects.filter(phone__startswith="+5500").delete()


def _snapshot(schema):
    with schema_context(schema):
        return sorted(Contact.objects.filter(phone__startswith="+5500").values_list("phone", "name"))


def _raw(database, query):
    with _connect(database) as conn:
        return sorted(conn.execute(query).fetchall())


def _seed(contacts):
    contacts("alfa", "+5500111110001", "Ana")
    contacts("alfa", "+5500111110002", "Bruno")
    contacts("beta", "+5500222220001", "Carla")


def test_whole_database_round_trip_into_a_scratch_database(backup_dir, contacts, scratch_database):
    _seed(contacts)
    call_command("backup")
    [dump] = backup_dir.glob("secretaria-all-*.dump")
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert (backup_dir / (dump.name + ".sha256")).read_text().split() == [backups.file_sha256(dump), dump.name]

    call_command("restore", str(dump), "--database", scratch_database)

    source = connection.settings_dict["NAME"]
    clinics_query = "SELECT schema_name, name, webhook_secret, webhook_token FROM public.tenants_clinic"
    assert _raw(scratch_database, clinics_query) == _raw(source, clinics_query)
    assert _raw(scratch_database, "SELECT domain FROM public.tenants_domain") == _raw(
        source, "SELECT domain FROM public.tenants_domain"
    )
    for schema in ("alfa", "beta"):
        query = f"SELECT phone, name FROM {schema}.conversations_contact WHERE phone LIKE '+5500%'"  # noqa: S608
        assert _raw(scratch_database, query) == _raw(source, query) != []
        users = f"SELECT username, password FROM {schema}.auth_user"  # noqa: S608
        assert _raw(scratch_database, users) == _raw(source, users)


def test_whole_restore_with_force_overwrites_what_the_backup_holds(backup_dir, contacts, scratch_database):
    _seed(contacts)
    whole = backup_create()
    backup_restore(path=whole.path, database=scratch_database)
    with _connect(scratch_database) as conn:
        conn.execute("UPDATE alfa.conversations_contact SET name = 'Estragado'")
        conn.execute("DELETE FROM beta.conversations_contact")
    with pytest.raises(BackupError, match="already has tables"):
        backup_restore(path=whole.path, database=scratch_database)

    call_command("restore", str(whole.path), "--database", scratch_database, "--force")

    for schema in ("alfa", "beta"):
        query = f"SELECT phone, name FROM {schema}.conversations_contact WHERE phone LIKE '+5500%'"  # noqa: S608
        assert _raw(scratch_database, query) == _raw(connection.settings_dict["NAME"], query) != []


def test_a_failed_clinic_restore_leaves_the_clinic_as_it_was(backup_dir, contacts, scratch_database):
    _seed(contacts)
    whole = backup_create()
    alfa = backup_create(tenant="alfa")
    backup_restore(path=whole.path, database=scratch_database)
    query = "SELECT phone, name FROM alfa.conversations_contact"
    before = _raw(scratch_database, query)
    with _connect(scratch_database) as conn:
        if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            pytest.skip("an event trigger needs a superuser")
        conn.execute(
            "CREATE FUNCTION public.refuse() RETURNS event_trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'no new tables today'; END $$"
        )
        conn.execute(
            "CREATE EVENT TRIGGER refuse ON ddl_command_start WHEN TAG IN ('CREATE TABLE') "
            "EXECUTE FUNCTION public.refuse()"
        )

    with pytest.raises(BackupError, match=r"^pg_restore failed: .*error:.*no new tables today") as excinfo:
        backup_restore(path=alfa.path, database=scratch_database)

    assert "\n" not in str(excinfo.value)
    assert _raw(scratch_database, query) == before != []
    assert _raw(scratch_database, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'alfa%'") == [("alfa",)]


def test_a_damaged_dump_is_reported_in_one_line(backup_dir, committed, scratch_database):
    alfa = backup_create(tenant="alfa")
    data = alfa.path.read_bytes()
    alfa.path.write_bytes(data[: len(data) * 9 // 10])
    backups.checksum_write(path=alfa.path)  # damaged before its checksum was taken
    with pytest.raises(BackupError, match=r"^pg_restore -l failed: pg_restore: error: ") as excinfo:
        backup_restore(path=alfa.path, database=scratch_database)
    assert "\n" not in str(excinfo.value)


def test_whole_restore_refuses_a_database_that_has_tables(backup_dir, committed):
    result = backup_create()
    with pytest.raises(CommandError, match="already has tables: restore into an empty database, or add --force"):
        call_command("restore", str(result.path))


def test_clinic_restore_brings_back_that_clinic_and_leaves_the_other_untouched(backup_dir, contacts):
    _seed(contacts)
    call_command("backup", "--tenant", "alfa")
    [dump] = backup_dir.glob("secretaria-clinic-alfa-*.dump")
    alfa_at_backup = _snapshot("alfa")

    with schema_context("alfa"):
        Contact.objects.filter(phone="+5500111110001").delete()
        Contact.objects.filter(phone="+5500111110002").update(name="Mudado")
        Contact.objects.create(phone="+5500111110003", name="Depois do backup")
    contacts("beta", "+5500222220002", "Davi")  # beta moves on after alfa's backup
    beta_before_restore = _snapshot("beta")
    assert _snapshot("alfa") != alfa_at_backup

    call_command("restore", str(dump))  # the clinic is read from the backup

    assert _snapshot("alfa") == alfa_at_backup
    assert _snapshot("beta") == beta_before_restore
    with schema_context("alfa"):  # the restored schema works through the ORM
        Contact.objects.create(phone="+5500111110009", name="Nova")
    with _connect(connection.settings_dict["NAME"]) as conn:
        leftovers = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE '%pre_restore%'").fetchall()
    assert leftovers == []


def test_one_clinic_can_be_restored_from_a_whole_database_backup(backup_dir, contacts):
    _seed(contacts)
    whole = backup_create()
    alfa_at_backup, beta_at_backup = _snapshot("alfa"), _snapshot("beta")
    with schema_context("alfa"):
        Contact.objects.all().filter(phone__startswith="+5500").delete()
    contacts("beta", "+5500222220002", "Davi")

    call_command("restore", str(whole.path), "--tenant", "alfa")

    assert _snapshot("alfa") == alfa_at_backup
    assert _snapshot("beta") == [*beta_at_backup, ("+5500222220002", "Davi")]


def test_clinic_restore_needs_the_clinic_in_the_clinics_table(backup_dir, committed, scratch_database):
    whole = backup_create()
    alfa = backup_create(tenant="alfa")
    backup_restore(path=whole.path, database=scratch_database)
    with _connect(scratch_database) as conn:
        conn.execute(
            "DELETE FROM public.tenants_domain WHERE tenant_id IN "
            "(SELECT id FROM public.tenants_clinic WHERE schema_name = 'alfa')"
        )
        conn.execute("DELETE FROM public.tenants_clinic WHERE schema_name = 'alfa'")
    with pytest.raises(BackupError, match="no clinic 'alfa' in the clinics table"):
        backup_restore(path=alfa.path, database=scratch_database)
    with pytest.raises(BackupError, match="holds no schema 'beta'"):
        backup_restore(path=alfa.path, tenant="beta", database=scratch_database)


def test_backup_of_an_unknown_clinic_is_refused(backup_dir, committed):
    with pytest.raises(CommandError, match="no clinic 'gama'"):
        call_command("backup", "--tenant", "gama")


def test_checksum_mismatch_is_refused_and_nothing_is_restored(backup_dir, contacts):
    _seed(contacts)
    result = backup_create(tenant="alfa")
    with open(result.path, "ab") as fh:
        fh.write(b"x")
    with schema_context("alfa"):
        Contact.objects.filter(phone="+5500111110001").delete()
    with pytest.raises(CommandError, match="checksum mismatch"):
        call_command("restore", str(result.path))
    assert _snapshot("alfa") == [("+5500111110002", "Bruno")]

    result.checksum_path.unlink()
    with pytest.raises(CommandError, match="no checksum file"):
        call_command("restore", str(result.path))


def test_encrypted_backup_round_trip(backup_dir, contacts, settings):
    settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()
    _seed(contacts)
    alfa_at_backup = _snapshot("alfa")
    result = backup_create(tenant="alfa")
    assert result.encrypted
    assert result.path.name.endswith(".dump.enc")
    assert not result.path.read_bytes().startswith(b"PGDMP")
    assert b"+5500111110001" not in result.path.read_bytes()
    assert sorted(p.name for p in backup_dir.iterdir()) == [result.path.name, result.checksum_path.name]

    with schema_context("alfa"):
        Contact.objects.filter(phone__startswith="+5500").delete()
    call_command("restore", str(result.path))
    assert _snapshot("alfa") == alfa_at_backup

    settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match="wrong BACKUP_ENCRYPTION_KEY"):
        call_command("restore", str(result.path))
    settings.BACKUP_ENCRYPTION_KEY = ""
    with pytest.raises(CommandError, match="is encrypted: set BACKUP_ENCRYPTION_KEY"):
        call_command("restore", str(result.path))


def test_encryption_in_chunks_detects_truncation(tmp_path, monkeypatch):
    monkeypatch.setattr(backups, "_CHUNK_BYTES", 1000)
    key = Fernet.generate_key().decode()
    plain, sealed, opened = tmp_path / "plain", tmp_path / "sealed", tmp_path / "opened"
    plain.write_bytes(secrets.token_bytes(4500))
    backups.file_encrypt(source=plain, target=sealed, key=key)
    backups.file_decrypt(source=sealed, target=opened, key=key)
    assert opened.read_bytes() == plain.read_bytes()

    data = sealed.read_bytes()
    cut = len(backups._MAGIC)
    for _ in range(2):  # keep the first two chunks only
        cut += 4 + int.from_bytes(data[cut : cut + 4], "big")
    sealed.write_bytes(data[:cut])
    with pytest.raises(BackupError, match="truncated"):
        backups.file_decrypt(source=sealed, target=opened, key=key)


def test_retention_keeps_the_newest_backups_of_each_kind(backup_dir, committed, settings):
    settings.BACKUP_KEEP = 2
    backup_dir.mkdir(parents=True)
    unrelated = backup_dir / "notes.txt"
    unrelated.write_text("keep me")
    whole = backup_create()
    made = [backup_create(tenant="alfa") for _ in range(3)]

    assert made[2].removed == [made[0].path]
    assert not made[0].path.exists() and not made[0].checksum_path.exists()
    remaining = sorted(p.name for p in backup_dir.iterdir())
    expected = [whole.path, whole.checksum_path, *(r.path for r in made[1:]), *(r.checksum_path for r in made[1:])]
    assert remaining == sorted([unrelated.name, *(p.name for p in expected)])


def test_retention_never_mixes_the_whole_database_with_a_clinic_named_all(tmp_path):
    names = [
        "secretaria-all-20260101T031500-000000Z.dump",
        "secretaria-all-20260102T031500-000000Z.dump.enc",
        "secretaria-clinic-all-20260101T031500-000000Z.dump",
        "secretaria-clinic-all-20260102T031500-000000Z.dump",
    ]
    for name in names:
        (tmp_path / name).write_text("")
        (tmp_path / (name + ".sha256")).write_text("")
    removed = backups.backups_prune(folder=tmp_path, tenant=None, keep=1)
    assert [p.name for p in removed] == [names[0]]
    assert backups.backups_prune(folder=tmp_path, tenant="all", keep=1) == [tmp_path / names[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names[1], names[1] + ".sha256", names[3], names[3] + ".sha256"]
    )


def test_copy_command_runs_for_the_backup_and_its_checksum(backup_dir, committed, settings, tmp_path):
    offsite = tmp_path / "off site"
    offsite.mkdir()
    settings.BACKUP_COPY_COMMAND = f"cp {{path}} '{offsite}'"
    call_command("backup", "--tenant", "beta")
    [dump] = backup_dir.glob("secretaria-clinic-beta-*.dump")
    assert sorted(p.name for p in offsite.iterdir()) == [dump.name, dump.name + ".sha256"]
    assert (offsite / dump.name).read_bytes() == dump.read_bytes()


def test_failing_copy_command_exits_non_zero_with_one_line(backup_dir, committed, settings, tmp_path):
    settings.BACKUP_COPY_COMMAND = f"cp {{path}} {tmp_path / 'missing' / 'folder'}/"
    with pytest.raises(
        CommandError, match=r"^copy command failed for secretaria-clinic-beta-.*\(exit 1\): "
    ) as excinfo:
        call_command("backup", "--tenant", "beta")
    assert "\n" not in str(excinfo.value)
    assert list(backup_dir.glob("secretaria-clinic-beta-*.dump"))  # the backup itself is kept


def test_output_file_and_folder(backup_dir, committed, tmp_path):
    target = tmp_path / "out" / "alfa.dump"
    result = backup_create(tenant="alfa", output=target)
    assert result.path == target and result.checksum_path == tmp_path / "out" / "alfa.dump.sha256"
    folder = tmp_path / "folder"
    folder.mkdir()
    assert backup_create(tenant="alfa", output=folder).path.parent == folder


def test_password_goes_by_environment_never_on_the_command_line(backup_dir, committed, monkeypatch):
    password = connection.settings_dict["PASSWORD"]
    assert password
    seen = []
    real_run = backups.subprocess.run

    def spy(args, **kwargs):
        seen.append((args, kwargs.get("env") or {}))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", spy)
    backup_create(tenant="alfa")
    args, env = seen[0]
    assert Path(args[0]).name == "pg_dump"
    assert not any(password in arg for arg in args)
    assert env["PGPASSWORD"] == password


def test_pg_binaries_come_from_the_wheel_or_pg_bin_dir(settings, tmp_path):
    settings.PG_BIN_DIR = ""
    assert Path(backups.pg_bin("pg_dump")).parts[-3:] == ("pginstall", "bin", "pg_dump")
    settings.PG_BIN_DIR = str(tmp_path)
    with pytest.raises(BackupError, match="pg_dump not found in PG_BIN_DIR"):
        backups.pg_bin("pg_dump")
    (tmp_path / "pg_dump").write_text("")
    assert backups.pg_bin("pg_dump") == str(tmp_path / "pg_dump")


def test_cron_file_runs_the_backup_daily_as_the_app_user():
    cron = (Path(__file__).resolve().parents[2] / "deploy" / "backup.cron").read_text()
    jobs = [line.split(None, 6) for line in cron.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    jobs = [job for job in jobs if len(job) == 7 and "=" not in job[0]]
    assert len(jobs) == 1
    minute, hour, day, month, weekday, user, command = jobs[0]
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit()
    assert user == "secretaria"
    assert command.startswith("cd /home/secretaria/app && ") and "manage.py backup" in command
    assert "%" not in command  # cron turns % into a newline

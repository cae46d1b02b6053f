"""`manage.py backup [--tenant SLUG] [--output PATH]`: pg_dump of the database or one clinic."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the whole database (or one clinic's schema) with pg_dump -Fc into BACKUP_DIR, with a .sha256 "
        "file; encrypts with BACKUP_ENCRYPTION_KEY, keeps the newest BACKUP_KEEP, runs BACKUP_COPY_COMMAND."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="back up only this clinic's schema (its slug)")
        parser.add_argument("--output", type=Path, help="a file, or a folder for a generated name; default BACKUP_DIR")

    def handle(self, *args, **options):
        try:
            result = backup_create(tenant=options["tenant"], output=options["output"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backup: {result.path}{' (encrypted)' if result.encrypted else ''}")
        self.stdout.write(f"checksum: {result.checksum_path}")
        for old in result.removed:
            self.stdout.write(f"removed old backup: {old.name}")
        if result.copied:
            self.stdout.write("copied off the server: yes")

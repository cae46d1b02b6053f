"""`manage.py restore PATH [--tenant SLUG]`: restore a backup made by `manage.py backup`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup after verifying its .sha256 file (decrypting .enc files with BACKUP_ENCRYPTION_KEY). "
        "With --tenant (or a one-clinic backup) only that clinic's schema is replaced; otherwise the whole "
        "database is restored into an empty database."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="the backup file (.dump or .dump.enc)")
        parser.add_argument("--tenant", help="restore only this clinic's schema (from a clinic or whole backup)")
        parser.add_argument(
            "--database", help="restore into this database on the same server instead of the configured one"
        )
        parser.add_argument(
            "--force", action="store_true", help="whole restore into a database that already has tables"
        )

    def handle(self, *args, **options):
        try:
            result = backup_restore(
                path=options["path"], tenant=options["tenant"], database=options["database"], force=options["force"]
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result.tenant is None:
            self.stdout.write(f"restored the whole database into {result.database!r}")
        else:
            self.stdout.write(f"restored clinic {result.tenant!r} in {result.database!r}; other clinics untouched")

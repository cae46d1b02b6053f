"""`manage.py rotate_secrets`: new encryption key, re-encryption, new webhook secrets."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Clinic
from tenants.rotation import RotationError, clinic_webhook_rotate, field_key_new, secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Rotate secrets. --new-field-key prints a new Fernet key and the FIELD_ENCRYPTION_KEY value to set; "
        "--reencrypt re-encrypts every stored secret with the first key of FIELD_ENCRYPTION_KEY; --webhook issues "
        "new webhook secrets and tokens (all clinics or --tenant), the old ones valid for --grace-hours."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--new-field-key", action="store_true", help="generate a new FIELD_ENCRYPTION_KEY key")
        action.add_argument("--reencrypt", action="store_true", help="re-encrypt stored secrets with the first key")
        action.add_argument("--webhook", action="store_true", help="new webhook secret and token per clinic")
        parser.add_argument("--tenant", help="with --webhook: only this clinic (its slug)")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=24,
            help="with --webhook: hours the previous secret and token stay valid (default 24, 0 = none)",
        )

    def handle(self, *args, **options):
        try:
            if options["new_field_key"]:
                self._new_field_key()
            elif options["reencrypt"]:
                self._reencrypt()
            else:
                self._webhook(options["tenant"], options["grace_hours"])
        except (RotationError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc

    def _new_field_key(self):
        new = field_key_new()
        self.stdout.write(f"new key: {new.key}")
        self.stdout.write("set (new key first, the current keys after), restart, then run --reencrypt:")
        self.stdout.write(f"FIELD_ENCRYPTION_KEY={new.setting}")

    def _reencrypt(self):
        counts = secrets_reencrypt()
        total = sum(counts.values())
        self.stdout.write(f"re-encrypted {total} stored secrets in {len(counts)} tables with the first key")
        self.stdout.write("the other keys can now be removed from FIELD_ENCRYPTION_KEY")

    def _webhook(self, tenant, grace_hours):
        clinics = Clinic.objects.order_by("schema_name")
        if tenant:
            clinics = clinics.filter(schema_name=tenant)
            if not clinics.exists():
                raise CommandError(f"no clinic {tenant!r}")
        for clinic in clinics:
            rotation = clinic_webhook_rotate(clinic=clinic, grace_hours=grace_hours)
            until = rotation.previous_valid_until
            grace = f"previous valid until {until:%Y-%m-%d %H:%M %Z}" if until else "previous refused now"
            self.stdout.write(f"clinic {clinic.schema_name} ({clinic.webhook_auth_mode}; {grace}):")
            self.stdout.write(f"  secret: {rotation.secret}")
            self.stdout.write(f"  token: {rotation.token}")
        self.stdout.write(
            "update each clinic's Whaticket or relay; `manage.py webhook_info --tenant SLUG` prints its URL"
        )

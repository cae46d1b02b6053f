"""Create a clinic (idempotent): `manage.py provision_tenant --slug acme --name "Clínica Acme"`."""

from django.core.management.base import BaseCommand, CommandError

from tenants.services import ProvisioningError, clinic_provision


class Command(BaseCommand):
    help = "Create or update a clinic: schema, domain, webhook secret and a staff admin. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="schema name, e.g. acme")
        parser.add_argument("--name", required=True, help='display name, e.g. "Clínica Acme"')
        parser.add_argument(
            "--domain", action="append", dest="domains", help="domain (repeatable); default <slug>.BASE_DOMAIN"
        )
        parser.add_argument("--tenant-id", type=int, help="the operator's external integer id (unique)")
        parser.add_argument("--time-zone", help="IANA time zone; default TIME_ZONE")
        parser.add_argument("--admin-email", help="staff superuser of the clinic's painel")
        parser.add_argument("--admin-password", help="its password; generated and printed once when omitted")

    def handle(self, *args, **options):
        try:
            result = clinic_provision(
                slug=options["slug"],
                name=options["name"],
                domains=options["domains"],
                tenant_id=options["tenant_id"],
                time_zone=options["time_zone"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
            )
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        clinic = result.clinic
        summary = ", ".join(result.changes) if result.changes else "nothing to change"
        self.stdout.write(f"clinic {clinic.schema_name}: {summary}")
        if result.admin_password:
            self.stdout.write(f"painel login: {result.admin_username} / {result.admin_password} (shown once)")

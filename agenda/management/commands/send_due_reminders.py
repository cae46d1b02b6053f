"""`manage.py send_due_reminders [--tenant SLUG]`: send the reminders that are due (safe to repeat)."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from agenda.reminders import reminders_send_due
from tenants.models import Clinic


class Command(BaseCommand):
    help = "Send due appointment reminders now. Each reminder is claimed, so running it twice sends nothing twice."

    def add_arguments(self, parser):
        parser.add_argument("--tenant")

    def handle(self, *args, **options):
        clinics = Clinic.objects.filter(is_active=True)
        if options["tenant"]:
            clinics = clinics.filter(schema_name=options["tenant"])
            if not clinics.exists():
                raise CommandError(f"no active clinic {options['tenant']!r}")
        for clinic in clinics:
            with tenant_context(clinic):
                count = reminders_send_due()
            self.stdout.write(f"{clinic.schema_name}: {count} reminders queued")

"""`manage.py send_due_reminders [--tenant SLUG]`: send the reminders that are due (safe to repeat)."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from agenda.reminders import reminders_send_due
from tenants.selectors import active_clinics


class Command(BaseCommand):
    help = "Send due appointment reminders now. Each reminder is claimed, so running it twice sends nothing twice."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one clinic's slug; default: every active clinic")

    def handle(self, *args, **options):
        clinics = active_clinics(slug=options["tenant"])
        if options["tenant"] and not clinics:
            raise CommandError(f"no active clinic {options['tenant']!r}")
        for clinic in clinics:
            with tenant_context(clinic):
                count = reminders_send_due()
            self.stdout.write(f"{clinic.schema_name}: {count} reminders queued")

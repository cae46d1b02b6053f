"""`manage.py sweep_inbox [--tenant SLUG]`: queue stored messages never processed or sent."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from conversations.services import inbox_sweep
from tenants.selectors import active_clinics


class Command(BaseCommand):
    help = "Queue again what was stored but never processed or sent (after Redis or a worker was down)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="one clinic's slug; default: every active clinic")

    def handle(self, *args, **options):
        clinics = active_clinics(slug=options["tenant"])
        if options["tenant"] and not clinics:
            raise CommandError(f"no active clinic {options['tenant']!r}")
        for clinic in clinics:
            with tenant_context(clinic):
                result = inbox_sweep()
            self.stdout.write(
                f"{clinic.schema_name}: {result['conversations']} conversations, {result['sends']} sends queued"
            )

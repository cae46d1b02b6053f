"""`manage.py seed_demo_agenda --tenant demo`: professionals, services, hours, a few bookings, and the
secretary's persona and FAQ."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from agenda.demo import demo_agenda_seed
from conversations.persona import demo_persona_seed
from tenants.models import Clinic


class Command(BaseCommand):
    help = "Give a clinic a believable demo agenda (only when it has no professionals yet)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(schema_name=options["tenant"]).first()
        if clinic is None:
            raise CommandError(f"no clinic {options['tenant']!r}")
        with tenant_context(clinic):
            created = demo_agenda_seed()
            persona = demo_persona_seed()
        self.stdout.write(f"demo agenda for {clinic.schema_name}: {'created' if created else 'already there'}")
        self.stdout.write(f"demo persona and FAQ for {clinic.schema_name}: {'created' if persona else 'already there'}")

"""`manage.py create_api_key --tenant SLUG [--name N]`: prints a new key once."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from agenda.apikeys import api_key_create
from tenants.models import Clinic


class Command(BaseCommand):
    help = "Create an API key for a clinic's appointments API. The key is shown once; only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", default="API")

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(schema_name=options["tenant"]).first()
        if clinic is None:
            raise CommandError(f"no clinic {options['tenant']!r}")
        with tenant_context(clinic):
            api_key, key = api_key_create(name=options["name"])
        self.stdout.write(f"API key {api_key.name!r} for {clinic.schema_name} (shown once):")
        self.stdout.write(key)

"""`manage.py webhook_info --tenant SLUG`: how to point a clinic's Whaticket (or relay) at us."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Clinic


class Command(BaseCommand):
    help = "Print the clinic's webhook URL, auth mode and secret or token (for the operator setting it up)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the clinic's slug")
        parser.add_argument("--mode", choices=[c for c, _ in Clinic.WebhookAuth.choices], help="change the mode")
        parser.add_argument("--scheme", default="https", choices=["http", "https"])
        parser.add_argument("--port", type=int, help="add a port to the URL (e.g. 8080 under make run)")

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(schema_name=options["tenant"]).first()
        if clinic is None:
            raise CommandError(f"no clinic {options['tenant']!r}")
        if options["mode"] and options["mode"] != clinic.webhook_auth_mode:
            clinic.webhook_auth_mode = options["mode"]
            clinic.save(update_fields=["webhook_auth_mode", "updated_at"])
        domain = clinic.domains.filter(is_primary=True).first() or clinic.domains.first()
        host = domain.domain if domain else f"{clinic.schema_name}.{settings.BASE_DOMAIN}"
        port = f":{options['port']}" if options["port"] else ""
        base = f"{options['scheme']}://{host}{port}/webhook/whaticket"
        mode = clinic.webhook_auth_mode
        self.stdout.write(f"clinic: {clinic.schema_name} ({clinic.name})")
        self.stdout.write(f"mode: {mode}")
        if mode == Clinic.WebhookAuth.URL_TOKEN:
            self.stdout.write(f"url: {base}/{clinic.webhook_token}")
        elif mode == Clinic.WebhookAuth.HEADER_TOKEN:
            self.stdout.write(f"url: {base}")
            self.stdout.write(f"header: X-Webhook-Token: {clinic.webhook_token}")
        else:
            self.stdout.write(f"url: {base}")
            self.stdout.write(f"secret: {clinic.webhook_secret}")
            self.stdout.write('sign: X-Timestamp = unix seconds; X-Signature = hex HMAC-SHA256 of "{timestamp}.{body}"')

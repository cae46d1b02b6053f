"""`manage.py ensure_operator --username U --password P`: the operator's superuser (public schema)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = "Create the operator's superuser for /admin/ on PUBLIC_HOST, or reset its password."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        connection.set_schema_to_public()
        user_model = get_user_model()
        user = user_model.objects.filter(username=options["username"]).first()
        if user is None:
            user_model.objects.create_superuser(options["username"], options["email"], options["password"])
            self.stdout.write(f"operator {options['username']}: created")
        elif not user.check_password(options["password"]):
            user.set_password(options["password"])
            user.save(update_fields=["password"])
            self.stdout.write(f"operator {options['username']}: password updated")
        else:
            self.stdout.write(f"operator {options['username']}: nothing to change")

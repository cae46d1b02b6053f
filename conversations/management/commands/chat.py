"""`manage.py chat --tenant demo [--phone +55...]`: talk to the clinic's secretary in the terminal.

Each line you type is stored as an inbound message and answered by the same processing job
and engine as a WhatsApp message (consent, pending questions, the dialogue engine, the agenda);
replies are printed here instead of sent to WhatsApp. Bookings are real: they show in the
painel and in the availability API.
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import ProgrammingError
from django.utils import timezone
from django_tenants.utils import tenant_context

from conversations.models import Contact, Conversation, Message
from conversations.parsing import Inbound
from conversations.services import conversation_process, inbound_receive, message_send
from tenants.models import Clinic

DEFAULT_PHONE = "+5511900000000"


class Command(BaseCommand):
    help = "Chat with a clinic's virtual secretary in the terminal (replies are not sent to WhatsApp)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="clinic slug, e.g. demo")
        parser.add_argument("--phone", default=DEFAULT_PHONE, help=f"your test number (default {DEFAULT_PHONE})")
        parser.add_argument("--name", default="Visitante", help="the name WhatsApp would show")

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(schema_name=options["tenant"]).first()
        if clinic is None:
            raise CommandError(f"no clinic {options['tenant']!r}")
        phone = "+" + "".join(ch for ch in options["phone"] if ch.isdigit())
        if len(phone) < 11:
            raise CommandError("--phone must be a full number with country code, e.g. +5511900000000")
        with tenant_context(clinic), timezone.override(clinic.time_zone):
            try:
                contact = Contact.objects.filter(phone=phone).first()
            except ProgrammingError as exc:
                raise CommandError(
                    "the database is not migrated: run `make run` or `manage.py migrate_schemas`"
                ) from exc
            if contact is not None and contact.channel != Contact.Channel.TERMINAL:
                raise CommandError(f"{phone} is a WhatsApp contact of this clinic: choose another test number")
            if contact is None:
                Contact.objects.create(
                    phone=phone, wa_id=phone.lstrip("+"), name=options["name"], channel=Contact.Channel.TERMINAL
                )
            self.stdout.write(
                f"Conversa com a secretária da {clinic.name} como {phone}. Ctrl-D ou 'sair' para terminar.\n"
            )
            while True:
                try:
                    line = input("você> ").strip()
                except (EOFError, KeyboardInterrupt):
                    self.stdout.write("")
                    break
                if line.lower() in ("sair", "exit", "quit"):
                    break
                if line:
                    replies = self.turn(phone, options["name"], line)
                    for reply in replies:
                        self.stdout.write(f"secretária> {reply}\n")
                    if not replies and Conversation.objects.filter(contact__phone=phone, state="human").exists():
                        self.stdout.write(
                            "(a conversa está com a equipe da clínica: o robô volta a responder quando ela for "
                            "devolvida no painel ou após HANDOFF_IDLE_MINUTES sem atividade)\n"
                        )

    def turn(self, phone: str, name: str, text: str) -> list[str]:
        event = Inbound(
            kind="message",
            variant="terminal",
            external_id=f"chat-{uuid.uuid4().hex}",
            phone=phone,
            wa_id=phone.lstrip("+"),
            name=name,
            text=text,
            timestamp=timezone.now(),
        )
        received = inbound_receive(event=event, raw={"source": "manage.py chat"})
        if received.message_id is None:
            return []
        message = Message.objects.select_related("conversation").get(pk=received.message_id)
        conversation_process(conversation_id=message.conversation_id, trigger_message_id=message.pk)
        replies = list(
            Message.objects.filter(
                conversation_id=message.conversation_id,
                direction=Message.Direction.OUT,
                created_at__gte=message.created_at,
            ).order_by("created_at", "id")
        )
        for reply in replies:
            message_send(message_id=reply.pk)  # a terminal contact: stored, never sent to WhatsApp
        return [reply.body for reply in replies]

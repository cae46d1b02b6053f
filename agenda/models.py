"""The clinic's agenda: professionals, services, hours, appointments and reminders (tenant schema)."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Func, Q

from secretaria.crypto import EncryptedTextField

WEEKDAYS = [
    (0, "segunda-feira"),
    (1, "terça-feira"),
    (2, "quarta-feira"),
    (3, "quinta-feira"),
    (4, "sexta-feira"),
    (5, "sábado"),
    (6, "domingo"),
]


class Service(models.Model):
    name = models.CharField("nome", max_length=120)
    duration_minutes = models.PositiveSmallIntegerField(
        "duração (min)", validators=[MinValueValidator(5), MaxValueValidator(600)]
    )
    price_text = models.CharField("preço", max_length=120, blank=True, default="", help_text="Ex.: R$ 250,00")
    description = models.TextField("descrição / preparo", blank=True, default="")
    active = models.BooleanField("ativo", default=True)

    class Meta:
        verbose_name = "serviço"
        verbose_name_plural = "serviços"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"


class Professional(models.Model):
    name = models.CharField("nome", max_length=120)
    active = models.BooleanField("ativo", default=True)
    services = models.ManyToManyField(Service, related_name="professionals", verbose_name="serviços", blank=True)

    class Meta:
        verbose_name = "profissional"
        verbose_name_plural = "profissionais"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WeeklyHours(models.Model):
    """A working interval on a weekday. Several per day make breaks (8-12, 13-18).
    Without a professional: the clinic's opening hours; with one: that professional's hours."""

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, null=True, blank=True, related_name="hours", verbose_name="profissional"
    )
    weekday = models.PositiveSmallIntegerField("dia da semana", choices=WEEKDAYS)
    start = models.TimeField("início")
    end = models.TimeField("fim")

    class Meta:
        verbose_name = "horário semanal"
        verbose_name_plural = "horários semanais"
        ordering = ["professional_id", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="weekly_hours_end_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class ClosedDate(models.Model):
    """A holiday or closed day for the clinic, or an absence of one professional."""

    date = models.DateField("data")
    reason = models.CharField("motivo", max_length=120, blank=True, default="")
    professional = models.ForeignKey(
        Professional,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="absences",
        verbose_name="profissional",
    )

    class Meta:
        verbose_name = "feriado ou fechamento"
        verbose_name_plural = "feriados e fechamentos"
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%d/%m/%Y} {self.reason}".strip()


class AgendaSettings(models.Model):
    """The clinic's agenda rules (one row). Times are in the clinic's time zone."""

    class Backend(models.TextChoices):
        BUILTIN = "builtin", "agenda própria"
        CALCOM = "calcom", "Cal.com"

    backend = models.CharField("agenda", max_length=10, choices=Backend.choices, default=Backend.BUILTIN)
    slot_step_minutes = models.PositiveSmallIntegerField("intervalo entre horários (min)", default=15)
    buffer_minutes = models.PositiveSmallIntegerField("folga entre consultas (min)", default=0)
    min_notice_minutes = models.PositiveIntegerField("antecedência mínima (min)", default=120)
    horizon_days = models.PositiveSmallIntegerField("agendar até (dias à frente)", default=60)
    quiet_hours_start = models.TimeField("sem mensagens a partir de", default="21:00")
    quiet_hours_end = models.TimeField("sem mensagens até", default="08:00")
    reminder_offsets_hours = models.JSONField(
        "lembretes (horas antes)", default=list, blank=True, help_text="Ex.: [24, 2]"
    )
    calcom_api_url = models.URLField("URL da API do Cal.com", blank=True, default="")
    calcom_api_key = EncryptedTextField("chave da API do Cal.com", blank=True, default="")
    calcom_webhook_secret = EncryptedTextField(
        "segredo do webhook do Cal.com", blank=True, default="", help_text="Vazio: CALCOM_WEBHOOK_SECRET."
    )
    updated_at = models.DateTimeField("atualizado em", auto_now=True)

    class Meta:
        verbose_name = "configuração da agenda"
        verbose_name_plural = "configuração da agenda"

    def __str__(self) -> str:
        return f"Agenda ({self.get_backend_display()})"


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()


class Appointment(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "agendada"
        CONFIRMED = "confirmed", "confirmada"
        CANCELLED = "cancelled", "cancelada"
        COMPLETED = "completed", "realizada"
        NO_SHOW = "no_show", "falta"

    class Source(models.TextChoices):
        WHATSAPP = "whatsapp", "WhatsApp"
        PAINEL = "painel", "painel"
        CALCOM = "calcom", "Cal.com"
        API = "api", "API"

    class Payer(models.TextChoices):
        PRIVATE = "particular", "particular"
        INSURANCE = "convenio", "convênio"

    ACTIVE = (Status.SCHEDULED, Status.CONFIRMED)

    contact = models.ForeignKey(
        "conversations.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name="contato que agendou",
    )
    patient_name = models.CharField("paciente", max_length=200)
    patient_phone = models.CharField("telefone do paciente", max_length=20, blank=True, default="")
    professional = models.ForeignKey(
        Professional, on_delete=models.PROTECT, related_name="appointments", verbose_name="profissional"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments", verbose_name="serviço")
    payer = models.CharField("pagamento", max_length=12, choices=Payer.choices, default=Payer.PRIVATE)
    insurance_name = models.CharField("convênio", max_length=120, blank=True, default="")
    insurance_card = models.CharField("carteirinha", max_length=60, blank=True, default="")
    start = models.DateTimeField("início", db_index=True)
    end = models.DateTimeField("fim")
    status = models.CharField("situação", max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    source = models.CharField("origem", max_length=10, choices=Source.choices, default=Source.PAINEL)
    external_uid = models.CharField("ID no Cal.com", max_length=120, null=True, blank=True, unique=True)
    rescheduled_from = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rescheduled_to",
        verbose_name="remarcada de",
    )
    notes = models.TextField("observações", blank=True, default="")
    confirmed_at = models.DateTimeField("confirmada em", null=True, blank=True)
    cancelled_at = models.DateTimeField("cancelada em", null=True, blank=True)
    cancel_reason = models.CharField("motivo do cancelamento", max_length=200, blank=True, default="")
    created_at = models.DateTimeField("criada em", auto_now_add=True)
    updated_at = models.DateTimeField("atualizada em", auto_now=True)

    class Meta:
        verbose_name = "consulta"
        verbose_name_plural = "consultas"
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="appointment_end_after_start"),
            # Two active appointments of one professional can never overlap: race-free booking.
            ExclusionConstraint(
                name="appointment_no_overlap",
                expressions=[
                    (TsTzRange("start", "end"), RangeOperators.OVERLAPS),
                    ("professional", RangeOperators.EQUAL),
                ],
                condition=Q(status__in=["scheduled", "confirmed"]),
            ),
        ]
        indexes = [models.Index(fields=["professional", "start"], name="appt_professional_start")]

    def __str__(self) -> str:
        return f"{self.patient_name} — {self.service.name} ({self.start:%d/%m/%Y %H:%M})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Reminder(models.Model):
    """One reminder of an appointment, due at a moment; sent once (claimed by `sent_at`)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    offset_hours = models.PositiveSmallIntegerField("horas antes")
    due_at = models.DateTimeField("enviar em", db_index=True)
    sent_at = models.DateTimeField("enviado em", null=True, blank=True)
    skipped_reason = models.CharField("não enviado porque", max_length=120, blank=True, default="")

    class Meta:
        verbose_name = "lembrete"
        verbose_name_plural = "lembretes"
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["appointment", "offset_hours"], name="one_reminder_per_offset")]

    def __str__(self) -> str:
        return f"Lembrete {self.offset_hours} h antes ({self.due_at:%d/%m %H:%M})"


class ApiKey(models.Model):
    """A key for the clinic's appointments API; only its hash is stored."""

    name = models.CharField("nome", max_length=120)
    prefix = models.CharField("prefixo", max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField("criada em", auto_now_add=True)
    last_used_at = models.DateTimeField("último uso", null=True, blank=True)
    revoked = models.BooleanField("revogada", default=False)

    class Meta:
        verbose_name = "chave de API"
        verbose_name_plural = "chaves de API"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CalcomEventType(models.Model):
    """Which Cal.com event type books a (professional, service) pair."""

    professional = models.ForeignKey(
        Professional, on_delete=models.CASCADE, related_name="calcom_event_types", verbose_name="profissional"
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="calcom_event_types", verbose_name="serviço"
    )
    event_type_id = models.PositiveIntegerField("ID do tipo de evento no Cal.com")
    slug = models.CharField("slug no Cal.com", max_length=120, blank=True, default="")

    class Meta:
        verbose_name = "tipo de evento do Cal.com"
        verbose_name_plural = "tipos de evento do Cal.com"
        constraints = [
            models.UniqueConstraint(fields=["professional", "service"], name="one_event_type_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.professional} · {self.service} → {self.event_type_id}"


class CalcomDelivery(models.Model):
    """A Cal.com webhook delivery, stored before processing; repeats are dropped by body hash."""

    body_sha256 = models.CharField(max_length=64, unique=True)
    trigger = models.CharField(max_length=60)
    body = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "entrega do Cal.com"
        verbose_name_plural = "entregas do Cal.com"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.trigger} ({self.received_at:%d/%m %H:%M})"

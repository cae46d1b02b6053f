"""The painel's agenda screens: professionals, services, hours, appointments, settings."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action

from agenda import services
from agenda.apikeys import api_key_create
from agenda.backend import AgendaError
from agenda.models import (
    AgendaSettings,
    ApiKey,
    Appointment,
    CalcomDelivery,
    CalcomEventType,
    ClosedDate,
    Professional,
    Reminder,
    Service,
    WeeklyHours,
)
from secretaria.admin_sites import painel_site


class WeeklyHoursInline(TabularInline):
    model = WeeklyHours
    extra = 0
    fields = ["weekday", "start", "end"]


class AbsenceInline(TabularInline):
    model = ClosedDate
    extra = 0
    fields = ["date", "reason"]
    verbose_name = "ausência"
    verbose_name_plural = "ausências"


@admin.register(Professional, site=painel_site)
class ProfessionalAdmin(ModelAdmin):
    list_display = ["name", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    filter_horizontal = ["services"]
    inlines = [WeeklyHoursInline, AbsenceInline]


@admin.register(Service, site=painel_site)
class ServiceAdmin(ModelAdmin):
    list_display = ["name", "duration_minutes", "price_text", "active"]
    list_filter = ["active"]
    search_fields = ["name"]


@admin.register(WeeklyHours, site=painel_site)
class ClinicHoursAdmin(ModelAdmin):
    """The clinic's opening hours (rows without a professional)."""

    list_display = ["weekday", "start", "end", "professional"]
    list_filter = ["weekday", "professional"]


@admin.register(ClosedDate, site=painel_site)
class ClosedDateAdmin(ModelAdmin):
    list_display = ["date", "reason", "professional"]
    list_filter = ["professional"]
    date_hierarchy = "date"


class ReminderInline(TabularInline):
    model = Reminder
    extra = 0
    can_delete = False
    fields = ["offset_hours", "due_at", "sent_at", "skipped_reason"]
    readonly_fields = fields
    max_num = 0


class AppointmentForm(forms.ModelForm):
    class Meta:
        model = Appointment
        fields = [
            "contact",
            "patient_name",
            "patient_phone",
            "professional",
            "service",
            "payer",
            "insurance_name",
            "insurance_card",
            "start",
            "notes",
        ]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("service") and data.get("professional") and data.get("start"):
            from agenda.backend import get_backend

            backend = get_backend()
            offered = getattr(backend, "is_offered", None)
            if offered and not offered(
                start=data["start"], service_id=data["service"].pk, professional_id=data["professional"].pk
            ):
                local = timezone.localtime(data["start"])
                raise forms.ValidationError(
                    f"{data['professional']} não tem {data['service'].name} livre em {local:%d/%m/%Y às %H:%M}."
                )
        return data


@admin.register(Appointment, site=painel_site)
class AppointmentAdmin(ModelAdmin):
    form = AppointmentForm
    list_display = ["start", "patient_name", "professional", "service", "status", "source", "payer"]
    list_filter = ["status", "source", "professional", "service", "payer"]
    search_fields = ["patient_name", "patient_phone", "contact__name", "contact__phone"]
    date_hierarchy = "start"
    list_select_related = ["professional", "service"]
    autocomplete_fields = ["contact"]
    readonly_fields = [
        "status",
        "source",
        "external_uid",
        "rescheduled_from",
        "confirmed_at",
        "cancelled_at",
        "cancel_reason",
        "created_at",
        "updated_at",
        "end",
    ]
    inlines = [ReminderInline]
    actions = ["mark_completed", "mark_no_show", "cancel"]

    def save_model(self, request, obj, form, change):
        """New appointments go through the agenda (free slot checked, reminders armed)."""
        if change:
            return super().save_model(request, obj, form, change)
        booked = services.appointment_book(
            service=obj.service,
            start=obj.start,
            professional=obj.professional,
            patient_name=obj.patient_name,
            patient_phone=obj.patient_phone,
            contact=obj.contact,
            payer=obj.payer,
            insurance_name=obj.insurance_name,
            insurance_card=obj.insurance_card,
            notes=obj.notes,
            source=Appointment.Source.PAINEL,
        )
        obj.pk = booked.pk

    def _mark(self, request, queryset, status):
        done = 0
        for appointment in queryset:
            try:
                services.appointment_mark(appointment=appointment, status=status)
                done += 1
            except AgendaError as exc:
                messages.warning(request, f"{appointment}: {exc.detail}")
        if done:
            messages.success(request, f"{done} consulta(s) atualizada(s).")

    @action(description="Marcar como realizada")
    def mark_completed(self, request, queryset):
        self._mark(request, queryset, Appointment.Status.COMPLETED)

    @action(description="Marcar falta")
    def mark_no_show(self, request, queryset):
        self._mark(request, queryset, Appointment.Status.NO_SHOW)

    @action(description="Cancelar")
    def cancel(self, request, queryset):
        done = 0
        for appointment in queryset:
            try:
                services.appointment_cancel(appointment=appointment, reason="cancelada no painel")
                done += 1
            except AgendaError as exc:
                messages.warning(request, f"{appointment}: {exc.detail}")
        if done:
            messages.success(request, f"{done} consulta(s) cancelada(s).")


@admin.register(AgendaSettings, site=painel_site)
class AgendaSettingsAdmin(ModelAdmin):
    fieldsets = [
        (
            "Agenda",
            {"fields": ["backend", "slot_step_minutes", "buffer_minutes", "min_notice_minutes", "horizon_days"]},
        ),
        ("Mensagens", {"fields": ["reminder_offsets_hours", "quiet_hours_start", "quiet_hours_end"]}),
        (
            "Cal.com",
            {"fields": ["calcom_api_url", "calcom_api_key", "calcom_webhook_secret"], "classes": ["collapse"]},
        ),
    ]

    def has_add_permission(self, request):
        return not AgendaSettings.objects.exists()


@admin.register(ApiKey, site=painel_site)
class ApiKeyAdmin(ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked"]
    fields = ["name", "revoked"]
    readonly_fields = []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created, key = api_key_create(name=obj.name)
        obj.pk = created.pk
        messages.warning(request, f"Copie agora a chave (ela não será mostrada de novo): {key}")


@admin.register(CalcomEventType, site=painel_site)
class CalcomEventTypeAdmin(ModelAdmin):
    list_display = ["professional", "service", "event_type_id", "slug"]
    list_select_related = ["professional", "service"]


@admin.register(CalcomDelivery, site=painel_site)
class CalcomDeliveryAdmin(ModelAdmin):
    list_display = ["received_at", "trigger", "processed_at", "outcome"]
    list_filter = ["trigger"]
    readonly_fields = ["body_sha256", "trigger", "body", "received_at", "processed_at", "outcome"]

    def has_add_permission(self, request):
        return False

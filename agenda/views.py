"""Agenda API: free slots (public, like a booking page) and appointments (API key or staff)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from agenda.apikeys import ApiClient, ApiKeyAuthentication
from agenda.backend import AgendaError, AgendaUnavailable, get_backend
from agenda.models import Appointment, Professional, Service
from agenda.selectors import appointments_list
from agenda.services import (
    _measured,
    appointment_book,
    appointment_cancel,
    appointment_mark,
    appointment_reschedule,
)

MAX_DAYS = 31


class PerIpRateThrottle(AnonRateThrottle):
    """AVAILABILITY_RATE_LIMIT (30/min) per address, per clinic (cache keys carry the clinic)."""

    scope = "availability"

    def get_rate(self):
        return settings.AVAILABILITY_RATE_LIMIT

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AvailabilityApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpRateThrottle]

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField(input_formats=["%Y-%m-%d"])
        days = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_DAYS)
        service = serializers.IntegerField(required=False, min_value=1)
        professional = serializers.IntegerField(required=False, min_value=1)

    class OutputSerializer(serializers.Serializer):
        class SlotSerializer(serializers.Serializer):
            class Named(serializers.Serializer):
                id = serializers.IntegerField()
                name = serializers.CharField()

            start = serializers.DateTimeField()
            end = serializers.DateTimeField()
            professional = Named()
            service = Named()

        timezone = serializers.CharField()
        slots = SlotSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("date", str, required=True, description="YYYY-MM-DD, in the clinic's time zone"),
            OpenApiParameter("days", int, description=f"how many days from date (1-{MAX_DAYS})"),
            OpenApiParameter("service", int),
            OpenApiParameter("professional", int),
        ],
        responses=OutputSerializer,
        auth=[],
        summary="Free slots of the clinic",
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        first_day = params.validated_data["date"]
        last_day = first_day + timedelta(days=params.validated_data["days"] - 1)
        try:
            backend = get_backend()
            with _measured(backend.name):
                slots = backend.availability(
                    first_day=first_day,
                    last_day=last_day,
                    service_id=params.validated_data.get("service"),
                    professional_id=params.validated_data.get("professional"),
                )
        except AgendaUnavailable as exc:
            return Response({"detail": exc.detail}, status=503)
        # Built by hand (the OutputSerializer documents it): hundreds of slots a day made DRF's
        # field-by-field serialisation the largest cost of this endpoint.
        tz = timezone.get_current_timezone()
        data = {
            "timezone": request.tenant.time_zone,
            "slots": [
                {
                    "start": slot.start.astimezone(tz).isoformat(),
                    "end": slot.end.astimezone(tz).isoformat(),
                    "professional": {"id": slot.professional_id, "name": slot.professional_name},
                    "service": {"id": slot.service_id, "name": slot.service_name},
                }
                for slot in slots
            ],
        }
        return Response(data)


# --- appointments API (API key or staff session) ----------------------------------------------


class IsStaffOrApiKey(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (isinstance(user, ApiClient) or user.is_staff))


class AppointmentOutputSerializer(serializers.ModelSerializer):
    professional = serializers.SerializerMethodField()
    service = serializers.SerializerMethodField()
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient_name",
            "patient_phone",
            "professional",
            "service",
            "start",
            "end",
            "status",
            "source",
            "payer",
            "insurance_name",
            "rescheduled_from",
            "notes",
        ]

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_professional(self, obj):
        return {"id": obj.professional_id, "name": obj.professional.name}

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_service(self, obj):
        return {"id": obj.service_id, "name": obj.service.name}

    @extend_schema_field({"type": "string", "format": "date-time"})
    def get_start(self, obj):
        return timezone.localtime(obj.start).isoformat()

    @extend_schema_field({"type": "string", "format": "date-time"})
    def get_end(self, obj):
        return timezone.localtime(obj.end).isoformat()


def _agenda_error(exc: AgendaError) -> Response:
    status = 503 if isinstance(exc, AgendaUnavailable) else 409
    return Response({"detail": exc.detail, "code": type(exc).__name__}, status=status)


class AppointmentsApi(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsStaffOrApiKey]

    class FilterSerializer(serializers.Serializer):
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)
        status = serializers.ChoiceField(choices=Appointment.Status.choices, required=False)
        professional = serializers.IntegerField(required=False, min_value=1)

    class InputSerializer(serializers.Serializer):
        service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.filter(active=True))
        professional = serializers.PrimaryKeyRelatedField(
            queryset=Professional.objects.filter(active=True), required=False
        )
        start = serializers.DateTimeField()
        patient_name = serializers.CharField(max_length=200)
        patient_phone = serializers.CharField(max_length=20, required=False, default="")
        payer = serializers.ChoiceField(choices=Appointment.Payer.choices, required=False, default="particular")
        insurance_name = serializers.CharField(max_length=120, required=False, default="")
        insurance_card = serializers.CharField(max_length=60, required=False, default="")
        notes = serializers.CharField(required=False, default="", allow_blank=True)

    @extend_schema(
        parameters=[FilterSerializer], responses=AppointmentOutputSerializer(many=True), summary="List appointments"
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = appointments_list(**filters.validated_data)
        return Response(AppointmentOutputSerializer(rows, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: AppointmentOutputSerializer},
        summary="Book",
        operation_id="agenda_appointments_book",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            appointment = appointment_book(**data.validated_data, source=Appointment.Source.API)
        except AgendaError as exc:
            return _agenda_error(exc)
        return Response(AppointmentOutputSerializer(appointment).data, status=201)


class AppointmentActionApi(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsStaffOrApiKey]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
        start = serializers.DateTimeField(required=False)
        professional = serializers.PrimaryKeyRelatedField(
            queryset=Professional.objects.filter(active=True), required=False
        )
        status = serializers.ChoiceField(choices=["completed", "no_show"], required=False)

    @extend_schema(
        request=InputSerializer,
        responses=AppointmentOutputSerializer,
        summary="cancel / reschedule / mark (action in the path)",
        operation_id="agenda_appointment_action",
    )
    def post(self, request, pk: int, action: str):
        appointment = Appointment.objects.select_related("professional", "service").filter(pk=pk).first()
        if appointment is None:
            return Response({"detail": "Consulta não encontrada."}, status=404)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            if action == "cancel":
                result = appointment_cancel(appointment=appointment, reason=values["reason"], source="api")
            elif action == "reschedule":
                if "start" not in values:
                    return Response({"detail": "Informe o novo horário em 'start'."}, status=400)
                result = appointment_reschedule(
                    appointment=appointment, new_start=values["start"], professional=values.get("professional")
                )
            elif action == "mark":
                if "status" not in values:
                    return Response({"detail": "Informe 'status': completed ou no_show."}, status=400)
                result = appointment_mark(appointment=appointment, status=values["status"])
            else:
                return Response({"detail": "Ação desconhecida."}, status=404)
        except AgendaError as exc:
            return _agenda_error(exc)
        return Response(AppointmentOutputSerializer(result).data, status=201 if action == "reschedule" else 200)


class CalcomWebhookApi(APIView):
    """`POST /webhook/calcom`: verify X-Cal-Signature-256, store, answer fast, process in a job."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []

    @extend_schema(request={"application/json": {"type": "object"}}, responses={200: None}, summary="Cal.com webhook")
    def post(self, request):
        import json

        from agenda import calcom_webhooks

        raw = request.body
        try:
            calcom_webhooks.signature_verify(raw_body=raw, given=request.headers.get("X-Cal-Signature-256", ""))
        except calcom_webhooks.CalcomSignatureError as exc:
            return Response({"detail": str(exc)}, status=401)
        try:
            body = json.loads(raw)
        except ValueError:
            return Response({"detail": "JSON malformado."}, status=400)
        if not isinstance(body, dict) or "triggerEvent" not in body:
            return Response({"detail": "Formato desconhecido: falta triggerEvent."}, status=400)
        trigger = body["triggerEvent"]
        if trigger == "PING":
            return Response({"ok": True, "ignored": "PING"})
        if trigger not in calcom_webhooks.HANDLED:
            return Response({"ok": True, "ignored": trigger})
        _, created = calcom_webhooks.delivery_store(raw_body=raw, body=body)
        return Response({"ok": True, "queued": created, "duplicate": not created})

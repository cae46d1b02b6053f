"""Agenda API: free slots (public, like a booking page)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from agenda.backend import AgendaUnavailable, get_backend
from agenda.services import _measured

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

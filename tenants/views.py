"""`GET /api/clinic`: which clinic answers here, and its local time (public, like a booking page)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class ClinicInfoApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        name = serializers.CharField()
        timezone = serializers.CharField()
        now = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer, auth=[], summary="The clinic answering on this host")
    def get(self, request):
        clinic = request.tenant
        data = {
            "slug": clinic.schema_name,
            "name": clinic.name,
            "timezone": clinic.time_zone,
            "now": timezone.localtime(),
        }
        return Response(self.OutputSerializer(data).data)

"""`POST /webhook/whaticket[/<token>]`: verify, store, queue, answer fast."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import intake, services
from conversations.parsing import UnknownShape, parse_payload
from secretaria import metrics

log = logging.getLogger(__name__)


class WhaticketWebhookApi(APIView):
    """Receives Whaticket's (or a relay's) deliveries for the clinic of this host."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            202: OpenApiResponse(description='{"queued": true}'),
            200: OpenApiResponse(description="duplicate, ignored or a ticket event"),
            400: OpenApiResponse(description="malformed JSON or unknown shape (stored as a dead letter)"),
            401: OpenApiResponse(description="authentication failed"),
            413: OpenApiResponse(description="body over 256 KB"),
            429: OpenApiResponse(description="too many failed authentications from this address"),
        },
        summary="Whaticket webhook (hmac or header_token mode)",
        operation_id="whaticket_webhook",
    )
    def post(self, request, token: str | None = None):
        clinic = request.tenant
        tenant = clinic.schema_name
        ip = intake.client_ip(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > intake.MAX_BODY_BYTES:
            return self._answer(tenant, "too_large", {"detail": "Corpo maior que 256 KB."}, 413)
        try:
            raw_body = request.body
        except (RequestDataTooBig, RawPostDataException):
            return self._answer(tenant, "too_large", {"detail": "Corpo maior que 256 KB."}, 413)
        if len(raw_body) > intake.MAX_BODY_BYTES:
            return self._answer(tenant, "too_large", {"detail": "Corpo maior que 256 KB."}, 413)
        try:
            intake.authenticate_delivery(clinic=clinic, raw_body=raw_body, headers=request.headers, path_token=token)
        except intake.WebhookAuthError as exc:
            # Only failures are counted, so an authenticated delivery never waits on Redis here.
            if intake.record_failure(ip) > settings.WEBHOOK_RATE_LIMIT_IP:
                return self._answer(tenant, "rate_limited", {"detail": "Muitas tentativas inválidas."}, 429)
            return self._answer(tenant, "unauthorized", {"detail": str(exc)}, 401)

        content_type = request.content_type or ""
        try:
            data = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError):
            services.dead_letter_store(reason="malformed JSON", body=raw_body, content_type=content_type)
            return self._answer(tenant, "bad_json", {"detail": "JSON malformado; a entrega foi guardada."}, 400)
        try:
            event = parse_payload(data)
        except UnknownShape as exc:
            services.dead_letter_store(reason=str(exc), body=raw_body, content_type=content_type)
            return self._answer(tenant, "unknown_shape", {"detail": f"{exc}; a entrega foi guardada."}, 400)

        if event.kind == "ignored":
            return self._answer(tenant, f"ignored_{event.reason}", {"queued": False, "ignored": event.reason}, 200)
        result = services.inbound_receive(event=event, raw=data)
        if result.outcome == "queued":
            return self._answer(tenant, "queued", {"queued": True}, 202)
        if result.outcome == "duplicate":
            return self._answer(tenant, "duplicate", {"queued": False, "duplicate": True}, 200)
        if result.outcome == "from_me":
            return self._answer(tenant, "ignored_from_me", {"queued": False, "ignored": "from_me"}, 200)
        return self._answer(tenant, result.outcome, {"queued": False, "handled": result.outcome}, 200)

    @staticmethod
    def _answer(tenant: str, outcome: str, body: dict, status: int) -> Response:
        metrics.WEBHOOK_RECEIVED.labels(tenant=tenant, outcome=outcome).inc()
        return Response(body, status=status)


class WhaticketWebhookTokenApi(WhaticketWebhookApi):
    """The same intake, for clinics whose Whaticket can only put a secret in the URL."""

    @extend_schema(
        operation_id="whaticket_webhook_url_token",
        summary="Whaticket webhook (url_token mode)",
        request={"application/json": {"type": "object"}},
        responses={202: OpenApiResponse(description='{"queued": true}')},
    )
    def post(self, request, token: str | None = None):
        return super().post(request, token=token)

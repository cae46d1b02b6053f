"""The two admin sites: the clinic's painel (/painel/ on its host) and the operator's /admin/."""

from __future__ import annotations

from django.conf import settings
from unfold.sites import UnfoldAdminSite


class PainelSite(UnfoldAdminSite):
    """A clinic's painel: its staff, its conversations, agenda and follow-ups."""

    site_url = None
    index_title = "Painel da clínica"

    def each_context(self, request):
        context = super().each_context(request)
        clinic = getattr(request, "tenant", None)
        if clinic is not None:
            context["site_title"] = clinic.name
            context["site_header"] = clinic.name
            context["site_subheader"] = "Secretária Virtual"
        return context


class OperatorSite(UnfoldAdminSite):
    """The operator's site on PUBLIC_HOST: clinics and their domains."""

    site_url = None
    site_title = "Secretária Virtual — operação"
    site_header = "Operação"
    index_title = "Operação da plataforma"

    def each_context(self, request):
        context = super().each_context(request)
        context["site_title"] = self.site_title
        context["site_header"] = "Secretária Virtual"
        context["site_subheader"] = "Operação"
        return context


painel_site = PainelSite(name="painel")
operator_site = OperatorSite(name="admin")


def environment_badge(request):
    if settings.PRODUCTION:
        return None
    return ["Desenvolvimento", "warning"]

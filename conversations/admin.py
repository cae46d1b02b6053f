"""The painel's screens for conversations: what patients wrote, what we answered, what failed."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action

from conversations import services
from conversations.models import (
    AssistantSettings,
    Contact,
    Conversation,
    DeadLetter,
    FaqEntry,
    Message,
    WhaticketSettings,
)
from secretaria.admin_sites import painel_site


class MessageInline(TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["created_at", "direction", "media_kind", "body", "status", "last_error"]
    readonly_fields = fields
    ordering = ["-created_at"]
    max_num = 0
    show_change_link = True


@admin.register(Conversation, site=painel_site)
class ConversationAdmin(ModelAdmin):
    list_display = ["contact", "state", "last_activity_at", "handoff_reason", "ticket_id"]
    list_filter = ["state"]
    search_fields = ["contact__name", "contact__phone"]
    list_select_related = ["contact"]
    readonly_fields = [
        "contact",
        "ticket_id",
        "state",
        "state_changed_at",
        "handoff_reason",
        "last_activity_at",
        "pending_kind",
        "pending_ref",
        "pending_expires_at",
        "created_at",
    ]
    exclude = ["pending_data"]
    inlines = [MessageInline]
    actions = ["hand_back_to_bot", "take_over"]

    @action(description="Devolver ao robô")
    def hand_back_to_bot(self, request, queryset):
        count = sum(services.conversation_hand_back(conversation=c, reason="painel") for c in queryset)
        messages.success(request, f"{count} conversa(s) devolvida(s) ao robô.")

    @action(description="Assumir atendimento (silenciar o robô)")
    def take_over(self, request, queryset):
        count = sum(services.conversation_handoff(conversation=c, reason="painel", notify=False) for c in queryset)
        messages.success(request, f"{count} conversa(s) agora com a equipe.")

    def has_add_permission(self, request):
        return False


@admin.register(Contact, site=painel_site)
class ContactAdmin(ModelAdmin):
    list_display = ["name", "phone", "accepts_proactive", "flagged_at", "created_at"]
    list_filter = ["accepts_proactive", ("flagged_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "phone", "wa_id"]
    readonly_fields = ["wa_id", "lid", "created_at", "consent_updated_at"]
    ordering = ["name"]


@admin.register(Message, site=painel_site)
class MessageAdmin(ModelAdmin):
    list_display = ["created_at", "conversation", "direction", "media_kind", "short_body", "status", "attempts"]
    list_filter = ["direction", "status", "media_kind"]
    search_fields = ["body", "conversation__contact__name", "conversation__contact__phone"]
    list_select_related = ["conversation__contact"]
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["resend"]

    @admin.display(description="texto")
    def short_body(self, obj):
        return obj.body[:80]

    @action(description="Reenviar")
    def resend(self, request, queryset):
        count = sum(services.message_resend(message=m) for m in queryset)
        if count:
            messages.success(request, f"{count} mensagem(ns) de volta à fila de envio.")
        else:
            messages.warning(request, "Só mensagens enviadas que falharam (ou guardadas) podem ser reenviadas.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DeadLetter, site=painel_site)
class DeadLetterAdmin(ModelAdmin):
    list_display = ["created_at", "reason", "resolved"]
    list_filter = ["resolved"]
    readonly_fields = ["created_at", "reason", "content_type", "body"]

    def has_add_permission(self, request):
        return False


@admin.register(WhaticketSettings, site=painel_site)
class WhaticketSettingsAdmin(ModelAdmin):
    formfield_overrides = {models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"}}
    fieldsets = [
        (
            "Envio por token da conexão (recomendado)",
            {
                "fields": ["api_url", "bearer_token"],
                "description": "URL do backend do Whaticket e o Token da conexão (Conexões → editar → Token). "
                "É o único modo que envia lembretes e mensagens proativas. Um JWT de administrador não serve: "
                "a rota de envio o recusa (403).",
            },
        ),
        (
            "Modo JWT (só responde dentro de um ticket)",
            {"fields": ["jwt_email", "jwt_password"], "classes": ["collapse"]},
        ),
    ]

    def has_add_permission(self, request):
        return not WhaticketSettings.objects.exists()


class AssistantSettingsForm(forms.ModelForm):
    """The API key is never shown back: empty keeps the saved one, unless 'apagar' is ticked."""

    llm_api_key = forms.CharField(
        label="chave da API",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Deixe em branco para manter a chave salva. Sem chave salva: a chave global do servidor.",
    )
    clear_api_key = forms.BooleanField(label="apagar a chave salva", required=False)
    llm_base_url = forms.URLField(
        label="URL do servidor (OpenAI compatível)",
        required=False,
        assume_scheme="https",
        help_text="Ex.: Ollama ou vLLM da clínica.",
    )

    class Meta:
        model = AssistantSettings
        fields = [
            "secretary_name",
            "tone",
            "extra_instructions",
            "about",
            "address",
            "phone",
            "insurance_plans",
            "payment_methods",
            "privacy_notice",
            "llm_provider",
            "llm_model",
            "llm_api_key",
            "llm_base_url",
        ]

    def clean_llm_api_key(self):
        typed = self.cleaned_data.get("llm_api_key", "").strip()
        if self.data.get("clear_api_key"):
            return ""
        return typed or (self.instance.llm_api_key if self.instance.pk else "")


@admin.register(AssistantSettings, site=painel_site)
class AssistantSettingsAdmin(ModelAdmin):
    form = AssistantSettingsForm
    formfield_overrides = {models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"}}
    fieldsets = [
        ("Persona", {"fields": ["secretary_name", "tone", "extra_instructions"]}),
        (
            "A clínica",
            {
                "fields": ["about", "address", "phone", "insurance_plans", "payment_methods", "privacy_notice"],
                "description": "Horários, serviços, preços e profissionais vêm da Agenda. "
                "Outras dúvidas: cadastre em Perguntas frequentes.",
            },
        ),
        (
            "Modelo de linguagem",
            {
                "fields": ["llm_provider", "llm_model", "llm_api_key", "clear_api_key", "llm_base_url"],
                "description": "Vazio: a configuração do servidor. O modo local funciona sem internet e sem custo; "
                "é também o que responde enquanto o provedor escolhido estiver fora do ar.",
                "classes": ["collapse"],
            },
        ),
    ]

    def has_add_permission(self, request):
        return not AssistantSettings.objects.exists()


@admin.register(FaqEntry, site=painel_site)
class FaqEntryAdmin(ModelAdmin):
    list_display = ["question", "topic", "order"]
    list_filter = ["topic"]
    list_editable = ["order"]
    search_fields = ["question", "answer"]

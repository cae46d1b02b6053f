"""Contacts, conversations and messages of one clinic (tenant schema)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from secretaria.crypto import EncryptedTextField


class Contact(models.Model):
    """A patient (or whoever writes) as WhatsApp knows them."""

    phone = models.CharField("telefone (E.164)", max_length=20, null=True, blank=True, unique=True)
    # The raw digits WhatsApp gave us: replies go to these, not to the normalised phone.
    wa_id = models.CharField("WhatsApp ID", max_length=32, blank=True, default="")
    lid = models.CharField("LID", max_length=64, null=True, blank=True, unique=True)
    name = models.CharField("nome", max_length=200, blank=True, default="")
    accepts_proactive = models.BooleanField(
        "aceita mensagens proativas", default=True, help_text="Lembretes e pós-atendimento."
    )
    consent_updated_at = models.DateTimeField("consentimento alterado em", null=True, blank=True)
    consent_source = models.CharField(
        "origem do consentimento", max_length=40, blank=True, default="", help_text="Ex.: whatsapp, painel."
    )

    class Channel(models.TextChoices):
        WHATSAPP = "whatsapp", "WhatsApp"
        TERMINAL = "terminal", "terminal (manage.py chat)"

    # Replies to a terminal contact are shown in `manage.py chat` and never sent to WhatsApp.
    channel = models.CharField(
        "canal", max_length=10, choices=Channel.choices, default=Channel.WHATSAPP, db_default="whatsapp"
    )
    flagged_at = models.DateTimeField("sinalizado em", null=True, blank=True)
    flag_reason = models.CharField("motivo da sinalização", max_length=200, blank=True, default="")
    created_at = models.DateTimeField("criado em", auto_now_add=True)

    class Meta:
        verbose_name = "contato"
        verbose_name_plural = "contatos"
        constraints = [
            models.CheckConstraint(condition=Q(phone__isnull=False) | Q(lid__isnull=False), name="contact_phone_or_lid")
        ]

    def __str__(self) -> str:
        return self.name or self.phone or self.lid or f"contato {self.pk}"

    @property
    def reply_number(self) -> str:
        return self.wa_id or (self.phone or "").lstrip("+")


class Conversation(models.Model):
    """The ongoing thread with one contact, and who answers it (the bot or a person)."""

    class State(models.TextChoices):
        BOT = "bot", "robô"
        HUMAN = "human", "atendente"
        CLOSED = "closed", "encerrada"

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, related_name="conversation", verbose_name="contato"
    )
    ticket_id = models.CharField("ticket no Whaticket", max_length=32, blank=True, default="")
    state = models.CharField("estado", max_length=10, choices=State.choices, default=State.BOT)
    state_changed_at = models.DateTimeField("estado alterado em", null=True, blank=True)
    handoff_reason = models.CharField("motivo da transferência", max_length=200, blank=True, default="")
    last_activity_at = models.DateTimeField("última atividade", null=True, blank=True, db_index=True)
    # The one pending question (see conversations.pending): what the next "1"/"sim" answers.
    pending_kind = models.CharField("pergunta pendente", max_length=40, blank=True, default="")
    pending_ref = models.CharField("referente a", max_length=64, blank=True, default="")
    pending_data = models.JSONField("dados da pergunta", default=dict, blank=True)
    pending_expires_at = models.DateTimeField("pergunta expira em", null=True, blank=True)
    created_at = models.DateTimeField("criada em", auto_now_add=True)

    class Meta:
        verbose_name = "conversa"
        verbose_name_plural = "conversas"
        ordering = ["-last_activity_at"]

    def __str__(self) -> str:
        return f"Conversa com {self.contact}"


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "recebida"
        OUT = "out", "enviada"

    class Status(models.TextChoices):
        RECEIVED = "received", "recebida"
        PROCESSED = "processed", "processada"
        THROTTLED = "throttled", "retida (excesso)"
        QUEUED = "queued", "na fila"
        SENDING = "sending", "enviando"
        SENT = "sent", "enviada"
        STORED = "stored", "guardada (sem Whaticket)"
        FAILED = "failed", "falhou"

    class Media(models.TextChoices):
        TEXT = "text", "texto"
        VOICE = "voice", "mensagem de voz"
        AUDIO = "audio", "áudio"
        IMAGE = "image", "imagem"
        VIDEO = "video", "vídeo"
        DOCUMENT = "document", "documento"
        LOCATION = "location", "localização"
        CONTACT = "contact", "contato"
        STICKER = "sticker", "figurinha"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name="conversa"
    )
    direction = models.CharField("direção", max_length=3, choices=Direction.choices)
    body = models.TextField("texto", blank=True, default="")
    media_kind = models.CharField("tipo", max_length=10, choices=Media.choices, default=Media.TEXT)
    external_id = models.CharField("ID externo", max_length=128, null=True, blank=True)
    raw = models.JSONField("payload original", null=True, blank=True)
    status = models.CharField("situação", max_length=10, choices=Status.choices)
    # An outbound reply points at the inbound message it answers: one reply per message.
    reply_to = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reply", verbose_name="responde a"
    )
    kind = models.CharField("finalidade", max_length=20, blank=True, default="reply")
    attempts = models.PositiveSmallIntegerField("tentativas", default=0)
    last_error = models.CharField("último erro", max_length=300, blank=True, default="")
    next_attempt_at = models.DateTimeField("próxima tentativa", null=True, blank=True)
    sent_at_whatsapp = models.DateTimeField("horário no WhatsApp", null=True, blank=True)
    created_at = models.DateTimeField("criada em", auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField("processada em", null=True, blank=True)
    sent_at = models.DateTimeField("enviada em", null=True, blank=True)

    class Meta:
        verbose_name = "mensagem"
        verbose_name_plural = "mensagens"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_external_id_unique_per_direction",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "direction", "processed_at"], name="msg_conv_unprocessed"),
            models.Index(fields=["status", "next_attempt_at"], name="msg_status_next_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.body[:60]}"


class DeadLetter(models.Model):
    """An authenticated delivery we could not understand, kept since Whaticket never redelivers."""

    reason = models.CharField("motivo", max_length=200)
    body = models.TextField("conteúdo recebido")
    content_type = models.CharField("tipo de conteúdo", max_length=100, blank=True, default="")
    created_at = models.DateTimeField("recebida em", auto_now_add=True)
    resolved = models.BooleanField("resolvida", default=False)

    class Meta:
        verbose_name = "entrega não processada"
        verbose_name_plural = "entregas não processadas"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.reason} ({self.created_at:%d/%m/%Y %H:%M})"


class WhaticketSettings(models.Model):
    """The clinic's Whaticket connection. Empty values mean the global .env values."""

    api_url = models.URLField("URL da API do Whaticket", blank=True, default="")
    bearer_token = EncryptedTextField(
        "token da conexão",
        blank=True,
        default="",
        help_text="Conexões → editar → Token. Necessário para lembretes e mensagens proativas.",
    )
    jwt_email = models.CharField("e-mail do usuário robô", max_length=200, blank=True, default="")
    jwt_password = EncryptedTextField("senha do usuário robô", blank=True, default="")
    updated_at = models.DateTimeField("atualizado em", auto_now=True)

    class Meta:
        verbose_name = "conexão Whaticket"
        verbose_name_plural = "conexão Whaticket"

    def __str__(self) -> str:
        return self.api_url or "Whaticket (configuração global)"


class AssistantSettings(models.Model):
    """The clinic's virtual secretary: persona, clinic facts, language model. One row per clinic.

    Empty provider, model or key mean the global .env values (LLM_PROVIDER, LLM_MODEL,
    OPENAI_API_KEY / GEMINI_API_KEY), read at run time.
    """

    class Provider(models.TextChoices):
        DEFAULT = "", "padrão do servidor (LLM_PROVIDER)"
        LOCAL = "local", "local (offline, sem custo)"
        OPENAI = "openai", "OpenAI (ou servidor compatível)"
        GEMINI = "gemini", "Google Gemini"

    secretary_name = models.CharField("nome da secretária", max_length=60, default="Lia")
    tone = models.CharField(
        "tom", max_length=200, blank=True, default="cordial, acolhedor e objetivo; trata o paciente por você"
    )
    about = models.TextField(
        "sobre a clínica", blank=True, default="", help_text="Especialidades, público, diferenciais."
    )
    address = models.CharField("endereço", max_length=300, blank=True, default="")
    phone = models.CharField("telefone da recepção", max_length=40, blank=True, default="")
    insurance_plans = models.TextField(
        "convênios aceitos", blank=True, default="", help_text="Um por linha. Vazio: só particular."
    )
    payment_methods = models.CharField("formas de pagamento", max_length=300, blank=True, default="")
    extra_instructions = models.TextField(
        "orientações para a secretária",
        blank=True,
        default="",
        help_text="Regras da casa (ex.: 'crianças só com responsável'). Não substituem as regras de segurança.",
    )
    privacy_notice = models.CharField(
        "aviso de privacidade (LGPD)",
        max_length=300,
        blank=True,
        default="",
        help_text="Uma linha enviada na primeira resposta a um novo contato. Vazio: texto padrão.",
    )
    llm_provider = models.CharField(
        "modelo de linguagem", max_length=10, choices=Provider.choices, blank=True, default=Provider.DEFAULT
    )
    llm_model = models.CharField("modelo", max_length=100, blank=True, default="", help_text="Vazio: LLM_MODEL.")
    llm_api_key = EncryptedTextField("chave da API", blank=True, default="", help_text="Vazio: chave global.")
    llm_base_url = models.URLField(
        "URL do servidor (OpenAI compatível)", blank=True, default="", help_text="Ex.: Ollama ou vLLM da clínica."
    )
    updated_at = models.DateTimeField("atualizado em", auto_now=True)

    class Meta:
        verbose_name = "secretária virtual"
        verbose_name_plural = "secretária virtual"

    def __str__(self) -> str:
        return f"Secretária {self.secretary_name}"


class FaqEntry(models.Model):
    """A question patients ask and the clinic's answer, for clinic_info."""

    class Topic(models.TextChoices):
        ADDRESS = "address", "endereço e acesso"
        HOURS = "hours", "horários"
        PRICES = "prices", "preços"
        INSURANCE = "insurance", "convênios"
        PREPARATION = "preparation", "preparo para exames e consultas"
        PAYMENT = "payment", "pagamento"
        PARKING = "parking", "estacionamento"
        OTHER = "other", "outros"

    topic = models.CharField("assunto", max_length=20, choices=Topic.choices, default=Topic.OTHER)
    question = models.CharField("pergunta", max_length=300)
    answer = models.TextField("resposta")
    order = models.PositiveSmallIntegerField("ordem", default=0)

    class Meta:
        verbose_name = "pergunta frequente"
        verbose_name_plural = "perguntas frequentes"
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.question

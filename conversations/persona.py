"""The clinic as its secretary knows it: persona, facts, opening hours, services and FAQ.

Read by the system prompt, by `clinic_info` and by the local engine, so the three never
disagree. Hours, services and prices come from the agenda; the rest from AssistantSettings
and the FAQ the staff edit in the painel.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.template.loader import render_to_string

from conversations.models import AssistantSettings, FaqEntry

WEEKDAYS = ["segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo"]
TOPICS = [choice for choice, _ in FaqEntry.Topic.choices] + ["services", "professionals"]


def assistant_settings() -> AssistantSettings:
    """The clinic's secretary settings (created with defaults on first use)."""
    row = AssistantSettings.objects.first()
    if row is None:
        row = AssistantSettings.objects.create()
    return row


def clinic_name() -> str:
    return getattr(getattr(connection, "tenant", None), "name", "") or "clínica"


def _hhmm(value) -> str:
    return f"{value.hour}h{value.minute:02d}" if value.minute else f"{value.hour}h"


def opening_hours_text() -> str:
    """'segunda a sexta, 8h–12h e 13h–18h; sábado, 8h–12h' from the clinic's weekly hours."""
    from agenda.models import WeeklyHours

    by_day: dict[int, list[str]] = {}
    for row in WeeklyHours.objects.filter(professional__isnull=True).order_by("weekday", "start"):
        by_day.setdefault(row.weekday, []).append(f"{_hhmm(row.start)}–{_hhmm(row.end)}")
    if not by_day:
        return ""
    groups: list[tuple[list[int], str]] = []
    for weekday in sorted(by_day):
        hours = " e ".join(by_day[weekday])
        if groups and groups[-1][1] == hours and groups[-1][0][-1] == weekday - 1:
            groups[-1][0].append(weekday)
        else:
            groups.append(([weekday], hours))
    parts = []
    for days, hours in groups:
        label = WEEKDAYS[days[0]] if len(days) == 1 else f"{WEEKDAYS[days[0]]} a {WEEKDAYS[days[-1]]}"
        parts.append(f"{label}, {hours}")
    return "; ".join(parts)


@dataclass(frozen=True)
class ServiceFact:
    id: int
    name: str
    minutes: int
    price: str
    preparation: str
    professionals: tuple[str, ...]


def services_facts() -> list[ServiceFact]:
    from agenda.models import Service

    rows = Service.objects.filter(active=True).prefetch_related("professionals").order_by("name")
    return [
        ServiceFact(
            id=row.pk,
            name=row.name,
            minutes=row.duration_minutes,
            price=row.price_text,
            preparation=row.description,
            professionals=tuple(p.name for p in row.professionals.all() if p.active),
        )
        for row in rows
    ]


def professional_names() -> list[str]:
    from agenda.models import Professional

    return list(Professional.objects.filter(active=True).order_by("name").values_list("name", flat=True))


def privacy_notice() -> str:
    custom = assistant_settings().privacy_notice.strip()
    if custom:
        return custom
    return render_to_string("messages/privacy_notice.txt", {"clinic": clinic_name()}).strip()


_STOPWORDS = {
    "o", "a", "os", "as", "de", "da", "do", "das", "dos", "para", "pra", "pro", "voces", "voce", "vcs", "vc",
    "tem", "que", "e", "um", "uma", "com", "na", "no", "me", "eu", "qual", "quais", "como", "em", "se", "ai",
}  # fmt: skip


def _content_words(text: str) -> list[str]:
    from conversations.llm import nlu

    return [word for word in nlu.plain(text).split() if word not in _STOPWORDS and len(word) > 1]


def faq_best_match(question: str) -> FaqEntry | None:
    """The FAQ entry whose question is closest to the patient's (typos and word order welcome).
    Precision first: most of the entry's own words must be in the patient's question, so
    "vocês atendem criança?" does not get the answer to "vocês atendem sábado?"."""
    from rapidfuzz import fuzz, process

    asked = _content_words(question[:300])
    if not asked:
        return None
    best: tuple[float, FaqEntry] | None = None
    for entry in FaqEntry.objects.all()[:200]:
        words = _content_words(entry.question)
        if not words:
            continue
        present = sum(1 for word in words if process.extractOne(word, asked, scorer=fuzz.ratio, score_cutoff=85))
        coverage = present / len(words)
        score = fuzz.token_set_ratio(" ".join(asked), " ".join(words))
        if coverage >= 0.6 and score >= 65 and (best is None or score > best[0]):
            best = (score, entry)
    return best[1] if best else None


def clinic_info(topic: str, question: str = "") -> dict:
    """What the clinic says about a topic: its FAQ answers plus the facts the painel holds;
    with the patient's `question`, the closest FAQ entry first."""
    row = assistant_settings()
    facts: dict[str, object] = {"topic": topic}
    match = faq_best_match(question) if question else None
    if match is not None:
        facts["best_match"] = {"question": match.question, "answer": match.answer}
    if topic == "address":
        facts["address"] = row.address or "não informado"
        if row.phone:
            facts["phone"] = row.phone
    elif topic == "hours":
        facts["opening_hours"] = opening_hours_text() or "não informado"
    elif topic in ("prices", "services", "preparation"):
        facts["services"] = [
            {
                "name": s.name,
                "duration_minutes": s.minutes,
                **({"price": s.price} if s.price else {}),
                **({"preparation": s.preparation} if s.preparation and topic != "prices" else {}),
                **({"professionals": list(s.professionals)} if topic == "services" else {}),
            }
            for s in services_facts()
        ]
    elif topic == "insurance":
        plans = [line.strip() for line in row.insurance_plans.splitlines() if line.strip()]
        facts["insurance_plans"] = plans or ["nenhum: atendimento particular"]
    elif topic == "payment":
        facts["payment_methods"] = row.payment_methods or "não informado"
    elif topic == "professionals":
        facts["professionals"] = [
            {"name": s, "services": [f.name for f in services_facts() if s in f.professionals]}
            for s in professional_names()
        ]
    faq = FaqEntry.objects.all()
    if topic in {choice for choice, _ in FaqEntry.Topic.choices}:
        faq = faq.filter(topic=topic)
    facts["faq"] = [{"question": entry.question, "answer": entry.answer} for entry in faq[:8]]
    if topic == "other" and row.about:
        facts["about"] = row.about
    return facts


DEMO_PERSONA = {
    "secretary_name": "Lia",
    "about": "Clínica de clínica geral e dermatologia para adultos e crianças, no centro de São Paulo.",
    "address": "Rua Augusta, 1200, sala 34 — Consolação, São Paulo/SP (a 5 minutos do metrô Consolação)",
    "phone": "(11) 3333-1200",
    "insurance_plans": "Unimed\nBradesco Saúde\nSulAmérica\nAmil",
    "payment_methods": "Pix, cartão de crédito (até 3x sem juros) e débito, dinheiro",
}
DEMO_FAQ = [
    ("address", "Onde fica a clínica?", "Rua Augusta, 1200, sala 34, Consolação, São Paulo/SP, a 5 minutos do metrô."),
    ("parking", "Tem estacionamento?", "Temos convênio com o estacionamento do prédio: 2 horas por R$ 15,00."),
    (
        "insurance",
        "Quais convênios vocês aceitam?",
        "Unimed, Bradesco Saúde, SulAmérica e Amil. Traga a carteirinha e um documento com foto.",
    ),
    (
        "preparation",
        "Preciso de jejum para a consulta?",
        "Para a consulta não. Para exames de sangue pedidos pela médica, jejum de 8 horas (água pode).",
    ),
    (
        "preparation",
        "Como me preparo para a avaliação dermatológica?",
        "Venha sem maquiagem, creme ou protetor na área a ser avaliada e traga fotos de lesões antigas, se tiver.",
    ),
    ("payment", "Quais formas de pagamento?", "Pix, cartão de crédito (até 3x sem juros) e débito, e dinheiro."),
    ("hours", "Vocês atendem sábado?", "Sim, aos sábados das 8h às 12h."),
    (
        "other",
        "Posso levar acompanhante?",
        "Pode sim, um acompanhante por paciente. Menores de 18 anos só com responsável.",
    ),
]


def demo_persona_seed() -> bool:
    """Give the demo clinic a persona and an FAQ worth asking (idempotent)."""
    if FaqEntry.objects.exists():
        return False
    row = assistant_settings()
    for field, value in DEMO_PERSONA.items():
        setattr(row, field, value)
    row.save()
    for order, (topic, question, answer) in enumerate(DEMO_FAQ):
        FaqEntry.objects.create(topic=topic, question=question, answer=answer, order=order)
    return True

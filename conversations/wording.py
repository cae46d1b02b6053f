"""How the secretary words tool results for the patient (pt-BR), shared by the local engine and
the answers to pending questions, so a booking reads the same whoever made it."""

from __future__ import annotations

import re

PERIOD_LABEL = {"morning": "de manhã", "afternoon": "à tarde", "evening": "à noite"}

HELP = (
    "Posso marcar, remarcar ou cancelar consultas, ver suas consultas marcadas e tirar dúvidas sobre a "
    "clínica (endereço, horários, convênios, preços e preparo). Como posso ajudar?"
)
NOT_UNDERSTOOD = "Desculpe, não entendi bem. " + HELP
EMERGENCY = (
    "Isso pode ser uma emergência. Ligue agora para o SAMU (192) ou vá ao pronto-socorro mais próximo. "
    "Não espere pela consulta. Vou avisar a equipe da clínica."
)
MEDICAL = (
    "Não consigo orientar sobre sintomas, remédios ou exames por aqui: quem orienta é a equipe médica. "
    "Vou passar sua mensagem para a equipe da clínica."
)
REFUSAL = (
    "Não posso compartilhar instruções internas nem dados de outras pessoas. "
    "Posso ajudar com as suas consultas: marcar, remarcar, cancelar ou tirar dúvidas sobre a clínica."
)
TROUBLE = (
    "Desculpe, tive um problema para concluir agora. Pode tentar de novo em instantes? "
    "Se preferir, escreva ATENDENTE para falar com a equipe."
)
PAST_DATE = "Essa data já passou. Para quando você gostaria?"
ASK_NAME = "Qual é o nome completo de quem vai ser atendido?"


def options_lines(options: list[dict], *, with_professional: bool = True) -> str:
    lines = []
    for option in options:
        who = f" com {option['professional']}" if with_professional and option.get("professional") else ""
        lines.append(f"{option['option']}) {option['when']}{who}")
    return "\n".join(lines)


def offer_text(result: dict, *, period: str = "", rescheduling: bool = False) -> str:
    """check_availability's result as the patient reads it."""
    if result.get("error") == "date_in_past":
        return PAST_DATE
    if result.get("error") == "service_not_offered_by_professional":
        return f"{result['professional']} atende: {', '.join(result['services'])}. Qual deles você quer marcar?"
    if result.get("error"):
        return NOT_UNDERSTOOD
    service = result.get("service") or "consulta"
    options = result.get("options") or []
    choose = "Qual prefere? Responda com o número."
    if options and result.get("requested_time_free"):
        first, others = options[0], options[1:]
        text = f"Tenho sim: {service} {first['when']} com {first['professional']}. Posso marcar? Responda SIM"
        if others:
            return f"{text} ou escolha outro:\n{options_lines(others)}"
        return text + "."
    if options and result.get("requested_time_free") is False:
        return f"Nesse horário não tenho. Tenho estes:\n{options_lines(options)}\n{choose}"
    if options:
        head = "Tenho estes horários" + ("" if rescheduling else f" para {service}")
        return f"{head}:\n{options_lines(options)}\n{choose}"
    later = result.get("next_available") or []
    when = PERIOD_LABEL.get(period, "")
    if later:
        return (
            f"Não tenho horário livre {('nesse período ' + when).strip()}. Os mais próximos são:\n"
            f"{options_lines(later)}\n{choose}"
        )
    return (
        "Não encontrei horários livres nas próximas semanas. Se quiser, escreva ATENDENTE para falar com a equipe "
        "da clínica."
    )


def booked_text(result: dict) -> str:
    status = result.get("status")
    if status in ("booked", "already_booked"):
        text = (
            f"Pronto, {result.get('patient_name') or 'sua consulta'}"
            if status == "booked"
            else "Você já tem esse horário marcado"
        )
        text = f"{text}: {result['service']} {result['when']} com {result['professional']}."
        if result.get("price"):
            text += f" Valor: {result['price']}."
        if result.get("preparation"):
            text += f" {result['preparation']}"
        return text + " Se precisar remarcar ou cancelar, é só me chamar."
    if status == "need_patient_name":
        return result.get("ask") or ASK_NAME
    if status == "rescheduled":
        return f"Remarcado! Sua consulta agora é {result['when']} com {result['professional']}."
    alternatives = result.get("alternatives") or []
    error = result.get("error")
    if error in ("slot_not_available", "slot_taken"):
        head = "Esse horário acabou de ser ocupado." if error == "slot_taken" else "Esse horário não está disponível."
        if alternatives:
            return f"{head} Tenho estes próximos:\n{options_lines(alternatives)}\nQual prefere? Responda com o número."
        return f"{head} Não encontrei outro horário próximo; quer tentar outra data?"
    if error == "slot_in_past":
        return PAST_DATE
    if error == "appointment_not_found":
        return "Não encontrei essa consulta entre as suas consultas marcadas."
    if error == "agenda_error":
        return result.get("detail") or TROUBLE
    return TROUBLE


def appointments_text(result: dict, *, question: str = "") -> str:
    rows = result.get("appointments") or []
    if not rows:
        return "Não encontrei consultas marcadas para este número. Quer marcar uma?"
    if len(rows) == 1 and not question:
        row = rows[0]
        status = row["appointment_status"]
        return f"Sua próxima consulta: {row['service']} {row['when']} com {row['professional']} ({status})."
    lines = [f"{i}) {row['service']} {row['when']} com {row['professional']}" for i, row in enumerate(rows, 1)]
    head = "Suas consultas marcadas:" if not question else question
    return head + "\n" + "\n".join(lines)


def info_text(result: dict, *, question: str = "") -> str:
    """clinic_info's result in a sentence or two: the FAQ answer first, then the facts."""
    from conversations.llm import nlu

    topic = result.get("topic")
    faq = result.get("faq") or []
    plans = result.get("insurance_plans") or []
    asked = nlu.match_name(question, plans) if question and topic == "insurance" else None
    if asked:
        return f"Sim, aceitamos {asked}! Traga a carteirinha e um documento com foto."
    services = result.get("services") or []
    named = nlu.match_name(question, [s["name"] for s in services]) if question and topic == "prices" else None
    if named:
        service = next(s for s in services if s["name"] == named)
        if service.get("price"):
            return f"{service['name']} ({service['duration_minutes']} min): {service['price']}."
    if topic == "services" and question and re.search(r"\b(dura|demora|leva|tempo)", nlu.plain(question)):
        named = nlu.match_name(question, [s["name"] for s in services])
        lasting = [s for s in services if s["name"] == named] or services
        return " ".join(f"{s['name']}: cerca de {s['duration_minutes']} minutos." for s in lasting)
    if result.get("best_match"):
        return result["best_match"]["answer"]
    if topic == "address" and result.get("address"):
        text = f"Estamos na {result['address']}."
        if result.get("phone"):
            text += f" Telefone: {result['phone']}."
        return text
    if topic == "hours" and result.get("opening_hours"):
        return f"Atendemos {result['opening_hours']}."
    if topic == "insurance" and result.get("insurance_plans"):
        plans = result["insurance_plans"]
        return "Convênios aceitos: " + ", ".join(plans) + "."
    if topic == "payment" and result.get("payment_methods"):
        return f"Formas de pagamento: {result['payment_methods']}."
    if topic in ("prices", "services") and result.get("services"):
        lines = [
            f"- {s['name']} ({s['duration_minutes']} min)" + (f": {s['price']}" if s.get("price") else "")
            for s in result["services"]
        ]
        return "Nossos serviços:\n" + "\n".join(lines)
    if topic == "professionals" and result.get("professionals"):
        lines = [f"- {p['name']}: {', '.join(p['services'])}" for p in result["professionals"]]
        return "Nossa equipe:\n" + "\n".join(lines)
    if topic == "other" and result.get("about"):
        return result["about"]
    if faq:
        return " ".join(entry["answer"] for entry in faq[:2])
    if topic == "preparation" and result.get("services"):
        lines = [f"- {s['name']}: {s['preparation']}" for s in result["services"] if s.get("preparation")]
        if lines:
            return "Preparo:\n" + "\n".join(lines)
    return "Não tenho essa informação aqui. Vou deixar sua pergunta para a equipe, ou escreva ATENDENTE."

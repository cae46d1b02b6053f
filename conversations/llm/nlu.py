"""Deterministic, offline understanding of Brazilian Portuguese scheduling messages.

Used by the rule-based "local" engine (the demo's default and the fallback when the hosted models
are down). Pure Python: no database, no clock (callers pass the clinic's local `today`), no network.

Everything works on a canonical form of the message: lower case, accents and emojis stripped,
WhatsApp abbreviations expanded ("vc", "q", "pra", "obg", "dps", "sexta q vem"), letter runs
collapsed ("siiim"), and typos of the few dozen words that matter ("amnhã", "sexra", "cancelr")
corrected with rapidfuzz. Clause punctuation survives in that form as " , " / " ? " tokens so
that a rule never spans two clauses.

Conventions (relative to `today`):

* Weekdays: a bare weekday ("sexta", "na sexta") is the next one strictly after today;
  "essa/esta/nesta sexta" includes today; "sexta que vem"/"próxima sexta" is the next one at
  least two days away (tomorrow would have been "amanhã"), so on a Wednesday it is the Friday
  two days later and on a Thursday the Friday of the following week; "sexta da semana que vem"
  is the Friday of next week.
* Weeks run Monday-Saturday. "essa semana" is today..Saturday; "semana que vem" is next
  Monday..Saturday. On a Sunday the coming Monday-Saturday is "essa semana".
* "dia 3" is the 3rd of this month, or of next month when it has passed. A day and month without
  a year ("15/12", "3 de dezembro") is this year's; when that is up to 60 days ago it stays in the
  past (`past=True`: "dia 3 de novembro" asked on 25/11), otherwise it is next year's.
* Bare hours: clinics open 7-19, so "às 2", "2h", "3:30" mean 14:00, 14:00, 15:30 (1-6 are
  afternoon); 7-12 and 13-23 are taken as said. "da manhã/da tarde/da noite" overrides.
* Several days ("amanhã ou sexta") give the range from the first to the last; several times
  ("10h ou 11h") give not_before/not_after. A day or time negated with "não posso/não dá/não
  consigo" is dropped; with "de ... para ..." ("mudar de sexta para segunda") the "para" one wins.
  A negated period becomes a bound: "de manhã não posso" is not_before 12:00, "à tarde não dá"
  not_after 12:00, "à noite não" not_after 18:00.
* "o quanto antes", "primeiro horário", "qualquer dia", "tanto faz o dia", "urgente" set
  `earliest`; without a day they also give today..today+14.

dateparser is not used at run time: for every explicit form it handles ("15/12", "3 de dezembro",
"12/01/2027") our rules give the same day (the test suite checks them against it), it cannot find
a date inside a sentence, its year guess for past dates differs from the convention above, and
its first call costs ~70 ms. It stays the oracle of the explicit-date tests.
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from itertools import islice

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

__all__ = [
    "When",
    "choose_option",
    "detect_intent",
    "extract_person_name",
    "info_topic",
    "match_name",
    "parse_when",
    "plain",
    "yes_no",
]


@dataclass(frozen=True)
class When:
    """What a message says about when. Days are the clinic's local dates."""

    first_day: date | None = None  # range of days asked (inclusive); None = not said
    last_day: date | None = None
    time: dtime | None = None  # an exact time asked ("às 15h", "15:30", "3 da tarde", "meio-dia")
    period: str = ""  # "morning" | "afternoon" | "evening" | ""
    not_before: dtime | None = None  # "depois das 16h", "fim da tarde" (16:00)
    not_after: dtime | None = None  # "antes das 10", "até as 11h"
    past: bool = False  # the day asked is before today ("ontem", "dia 3 de novembro" on 25/11)
    earliest: bool = False  # "o quanto antes", "primeiro horário", "qualquer dia": the first free slot


# --- normalisation ----------------------------------------------------------------------------

_ABBREVIATIONS = {
    key: value.replace("_", " ")
    for key, value in (
        pair.split("=")
        for pair in """
    vc=voce vce=voce vcs=voces c=com cm=com p=para pra=para pr=para pro=para_o pras=para_as pros=para_os
    q=que oq=o_que pq=porque pqe=porque porq=porque n=nao nn=nao naum=nao nops=nao td=tudo tdo=tudo tds=todos
    tb=tambem tbm=tambem tmb=tambem obg=obrigado obgd=obrigado obgdo=obrigado obgda=obrigada brigado=obrigado
    brigada=obrigada obrigadao=obrigado vlw=valeu vlew=valeu blz=beleza blza=beleza hj=hoje hje=hoje
    amn=amanha amnh=amanha amh=amanha dps=depois dpois=depois qnd=quando qdo=quando qndo=quando qd=quando
    qto=quanto qnto=quanto qt=quanto qnt=quanto qts=quantos ql=qual pfv=por_favor pfvr=por_favor pf=por_favor
    pls=por_favor plz=por_favor msg=mensagem ngm=ninguem agr=agora hr=hora hrs=horas mto=muito mt=muito
    mta=muita mtos=muitos mtas=muitas eh=e to=estou tou=estou tava=estava kd=cade aki=aqui kero=quero
    qro=quero qr=quero qria=queria keria=queria prox=proxima prx=proxima fds=fim_de_semana qq=qualquer
    qqr=qualquer qlq=qualquer qlqr=qualquer vdd=verdade nd=nada msm=mesmo cmg=comigo dnv=de_novo flw=falou
    xau=tchau tchal=tchau oie=oi okay=ok okey=ok ctz=certeza tel=telefone end=endereco info=informacao
    infos=informacoes meiodia=meio_dia seg=segunda qua=quarta qui=quinta sex=sexta sab=sabado dom=domingo
    segundafeira=segunda_feira tercafeira=terca_feira quartafeira=quarta_feira quintafeira=quinta_feira
    sextafeira=sexta_feira eai=e_ai whats=whatsapp zap=whatsapp wpp=whatsapp
""".split()
    )
}

# The words that matter, for typo correction (targets), and real words one letter away from them
# that must never be "corrected" (segundo is the ordinal, quarto/quinto/sexto too, manda is a verb).
_VOCAB = sorted(
    set(
        """hoje amanha ontem anteontem depois segunda terca quarta quinta sexta sabado domingo feira
        semana semanas proxima proximo janeiro fevereiro abril maio junho julho agosto setembro
        outubro novembro dezembro manha tarde tardinha noite almoco horas horario horarios marcar
        agendar agendamento remarcar reagendar cancelar desmarcar consulta consultas consultar
        obrigado obrigada atendente recepcionista humano endereco convenio estacionamento pagamento
        cartao preparo jejum confirmo confirmar confirmado emergencia tchau valeu disponivel quando
        quanto gostaria queria preciso possivel qualquer daqui minha minhas falar pessoa remedio
        infarto convulsao desmaio sangrando respirar instrucoes ignore prompt parcelar dinheiro
        particular horario funcionamento localizacao""".split()
    )
)
_VOCAB_SET = frozenset(_VOCAB)
_PROTECTED = frozenset(
    """segundo segundos quarto quartos quinto quintal sexto terco tarda tardo manda manga feita
    feito quanta quantas valer precisa pessoal marca marco marcam marcou horta minas junta quanto
    quantos queira quero quer confirmacao remarcacao amanda horacio quintana domingos""".split()
)


def _fold(text: str) -> str:
    """Lower case, accents and anything outside ASCII (emojis) dropped."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")


_NUM_SEP_RE = re.compile(r"(?<=\d)([:/.\-])(?=\d)")
_NUM_SEP_MARK = {":": "\x01", "/": "\x02", ".": "\x03", "-": "\x04"}
_NUM_SEP_BACK = str.maketrans({"\x01": ":", "\x02": "/", "\x03": ".", "\x04": "-"})
_QUESTION_RE = re.compile(r"\?+")
_CLAUSE_RE = re.compile(r"[,;.!\n\r\u2026]+")
_JUNK_RE = re.compile(r"[^a-z0-9\x01-\x04,?\s]+")
_REPEAT_RE = re.compile(r"([a-z])\1{2,}")


@lru_cache(maxsize=2048)
def _tokens(text: str) -> tuple[str, ...]:
    """The message as tokens: words, numbers (with their ':' '/' '.' '-' kept), ',' and '?'."""
    text = _fold(text[:20000])
    text = _NUM_SEP_RE.sub(lambda m: _NUM_SEP_MARK[m.group(1)], text)
    text = _QUESTION_RE.sub(" ? ", text)
    text = _CLAUSE_RE.sub(" , ", text)
    text = _JUNK_RE.sub(" ", text).translate(_NUM_SEP_BACK)
    text = _REPEAT_RE.sub(r"\1", text)
    out: list[str] = []
    for token in text.split():
        expanded = _ABBREVIATIONS.get(token)
        if expanded:
            out.extend(expanded.split())
        else:
            out.append(token)
    return tuple(out)


@lru_cache(maxsize=8192)
def _correct(token: str) -> str:
    if len(token) < 5 or token in _VOCAB_SET or token in _PROTECTED or not token.isalpha():
        return token
    limit = 1 if len(token) <= 7 else 2
    found = process.extractOne(token, _VOCAB, scorer=OSA.distance, score_cutoff=limit)
    if found and found[0][0] == token[0]:
        return found[0]
    return token


@lru_cache(maxsize=1024)
def _canon(text: str) -> str:
    """Tokens, typo-corrected, joined by single spaces; clause marks kept (',' and '?')."""
    words: list[str] = []
    for piece in _tokens(text):
        if piece in (",", "?"):
            if words and words[-1] in (",", "?"):
                if piece == "?":
                    words[-1] = "?"
                continue
            if not words:
                continue
        else:
            piece = _correct(piece)
        words.append(piece)
    return " ".join(words)


def plain(text: str) -> str:
    """Lower case, accents stripped, emojis and punctuation removed, whitespace collapsed, common
    WhatsApp abbreviations expanded ("vc" -> "voce", "amnh" -> "amanha", "sex" -> "sexta").

    Separators inside numbers are kept ("15:30", "15/12", "2026-12-03") because they carry meaning.
    """
    return " ".join(token for token in _tokens(text) if token not in (",", "?"))


# --- dates and times --------------------------------------------------------------------------

_WEEKDAYS = {"segunda": 0, "terca": 1, "ter": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6}
_MONTHS = {
    key: int(value)
    for key, value in (
        pair.split("=")
        for pair in """
    janeiro=1 jan=1 fevereiro=2 fev=2 marco=3 mar=3 abril=4 abr=4 maio=5 mai=5 junho=6 jun=6 julho=7 jul=7
    agosto=8 ago=8 setembro=9 set=9 outubro=10 out=10 novembro=11 nov=11 dezembro=12 dez=12
""".split()
    )
}
_MONTH_FULL = "janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro"
_MONTH_ANY = _MONTH_FULL + "|jan|fev|mar|abr|mai|jun|jul|ago|set|out|nov|dez"
_NUMBER_WORDS = {
    key: int(value)
    for key, value in (
        pair.split("=")
        for pair in """
    um=1 uma=1 dois=2 duas=2 tres=3 quatro=4 cinco=5 seis=6 sete=7 oito=8 nove=9 dez=10 onze=11 doze=12
    treze=13 quatorze=14 catorze=14 quinze=15 vinte=20 trinta=30
""".split()
    )
}
_NUMBER_WORD_RE = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_HOUR_WORDS = "uma|duas|dois|tres|quatro|cinco|seis|sete|oito|nove|dez|onze|doze"

_MAX_MENTIONS = 64  # of each kind: a real message has a handful; this bounds the work on junk
_MORNING, _AFTERNOON, _EVENING = "morning", "afternoon", "evening"
_PERIOD_OF = {"manha": _MORNING, "tarde": _AFTERNOON, "noite": _EVENING, "madrugada": _MORNING}
_T16 = dtime(16, 0)
_NOON = dtime(12, 0)

_RELATIVE_RE = re.compile(r"\b(depois\s+de\s+amanha|anteontem|ante\s+ontem|amanha|hoje|ontem)\b")
_RELATIVE_DAYS = {"depois de amanha": 2, "amanha": 1, "hoje": 0, "ontem": -1, "anteontem": -2, "ante ontem": -2}

_ISO_RE = re.compile(r"(?<![\d/.:-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/.:-])")
_NUMERIC_DATE_RE = re.compile(
    r"(?<![\d/.:-])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])"
    r"|(?<![\d/.:-])(\d{1,2})[.-](\d{1,2})[.-](\d{4}|\d{2})(?![\d.-])"
)
_NAMED_DATE_RE = re.compile(
    rf"\b(?:dia\s+)?(?P<d>\d{{1,2}}|primeiro)(?:o|a)?\s*(?:de\s+|/\s*|-\s*)?(?P<mon>{_MONTH_ANY})\b"
    r"(?:\s*(?:de\s+|/\s*|-\s*)?(?P<y>\d{4}))?"
)
_MONTH_FIRST_RE = re.compile(rf"\b(?P<mon>{_MONTH_FULL})\s*(?:,\s*)?(?:dia\s+)(?P<d>\d{{1,2}})\b")
_DAY_ONLY_RE = re.compile(r"\bdias?\s+(?P<d>\d{1,2}|primeiro)(?:o)?\b(?![/:.\-]\d)")
_IN_DAYS_RE = re.compile(
    rf"\b(?:daqui\s+(?:a\s+)?|em\s+|dentro\s+de\s+|depois\s+de\s+)(?:uns\s+|umas\s+)?"
    rf"(?P<n>\d{{1,3}}|{_NUMBER_WORD_RE})\s+(?P<unit>dias?|semanas?|mes|meses)\b"
)
_WEEKDAY_RE = re.compile(
    r"\b(?:(?P<pre>nesta|neste|nessa|nesse|esta|este|essa|esse|na|no|proxima|proximo|ate|para|de|da|do|a|o)\s+)?"
    r"(?P<wd>segunda|terca|quarta|quinta|sexta|sabado|domingo|ter)(?P<feira>\s+feira)?"
    r"(?P<post>\s+(?:que\s+vem|da\s+semana\s+que\s+vem|da\s+proxima\s+semana|da\s+outra\s+semana"
    r"|na\s+semana\s+que\s+vem|na\s+proxima\s+semana|(?:desta|dessa|nesta|nessa)\s+semana|agora))?\b"
)
_NOT_WEEKDAY_AFTER_RE = re.compile(
    r"\s+(?:opcao|opcoes|alternativa|vez|via|consulta|vaga|horario|chamada|parte|mao|dose|sessao|etapa)\b"
)
_TIME_FOLLOWS_RE = re.compile(r"\s+(?:as\s+)?[\d#]")
_TER_OK_PRE = {"na", "nesta", "neste", "nessa", "esta", "essa", "proxima", "ate", "para"}
_NEXT_WEEK_RE = re.compile(r"\b(?:semana\s+que\s+vem|proxima\s+semana|semana\s+seguinte|outra\s+semana)\b")
_THIS_WEEK_RE = re.compile(r"\b(?:essa|esta|nesta|nessa)\s+semana\b")
_WEEKEND_RE = re.compile(r"\b(?:fim|final)\s+de\s+semana(?P<next>\s+que\s+vem)?\b")
_MONTH_END_RE = re.compile(r"\b(?:fim|final)\s+(?:do|deste|desse)\s+mes(?P<next>\s+que\s+vem)?\b")
_MONTH_START_RE = re.compile(r"\b(?:inicio|comeco)\s+do\s+(?:mes\s+que\s+vem|proximo\s+mes)\b")
_NEXT_MONTH_RE = re.compile(r"\b(?:mes\s+que\s+vem|proximo\s+mes)\b")
_THIS_MONTH_RE = re.compile(r"\b(?:este|esse|neste|nesse)\s+mes\b")
_MONTH_ONLY_RE = re.compile(
    r"\b(?P<pre>em|no\s+mes\s+de|mes\s+de|para|ate|durante|inicio\s+de|comeco\s+de|meados\s+de|fim\s+de|final\s+de)"
    rf"\s+(?P<mon>{_MONTH_FULL})\b(?:\s+de\s+(?P<y>\d{{4}}))?"
)
_EARLIEST_RE = re.compile(
    r"\b(?:quanto\s+antes|(?:o\s+)?mais\s+(?:rapido|cedo|breve|proximo)\s+possivel|(?:o\s+)?mais\s+rapido"
    r"|primeiro\s+horario|primeira\s+vaga|primeira\s+data|primeiro\s+dia\s+(?:livre|disponivel|que\s+tiver)"
    r"|(?:horario|data|dia|vaga)\s+mais\s+proxim[oa]|qualquer\s+(?:dia|data|horario)"
    r"|assim\s+que\s+(?:possivel|tiver|der)|com\s+urgencia|urgente|urgencia"
    r"|tanto\s+faz\s+(?:o\s+dia|a\s+data|quando|o\s+horario)"
    r"|proxim[oa]\s+(?:horario|vaga|data)(?:\s+(?:disponivel|livre|que\s+tiver))?)\b"
)
_TIME_RANGE_RE = re.compile(
    r"\b(?:entre|das|de)\s+(?:as\s+)?(?P<h1>\d{1,2})(?:\s*(?::|h)\s*(?P<m1>\d{2}))?\s*(?:h|hs|horas)?"
    r"\s+(?:e|as|a|ate)\s+(?:as\s+)?(?P<h2>\d{1,2})(?:\s*(?::|h)\s*(?P<m2>\d{2}))?\s*(?P<suf>h|hs|horas)?\b"
    r"(?:\s+(?:da|de|pela|a)\s+(?P<per>manha|tarde|noite))?"
)
_NOON_RE = re.compile(
    r"\b(?:(?P<prep>antes|depois|apos|ate|a\s+partir)\s+(?:do|de|o)\s+)?(?:ao\s+|as\s+)?"
    r"(?P<what>meio\s+dia|meia\s+noite)(?P<half>\s+e\s+meia)?\b"
)
_TIME_RE = re.compile(
    r"(?P<prep>\b(?:as|das|pelas|para\s+as|ate\s+as|ate|depois\s+das|antes\s+das|apos\s+as|apos\s+das|apos"
    r"|a\s+partir\s+das|partir\s+das|por\s+volta\s+das|la\s+pelas|umas|tipo)\s+)?"
    rf"(?<![\d/.:-])(?P<h>\d{{1,2}}|{_HOUR_WORDS})(?![\d/])"
    r"(?:\s*(?::|h)\s*(?P<m>\d{2})(?:\s*(?:h|hs|hrs|min|mins|minutos))?\b"
    r"|(?P<hsuf>h|hs|hrs)\b|\s+(?P<hword>horas?)\b"
    r"|\s+e\s+(?P<half>meia|quinze|(?P<m2>\d{1,2})(?:\s*min\w*)?)\b)?"
    r"(?:\s+(?:da|de|pela|a|na)\s+(?P<per>manha|tarde|noite|madrugada))?"
    r"(?P<emponto>\s+em\s+ponto)?"
)
_NOT_TIME_AFTER_RE = re.compile(
    r"\s*(?:de\s+)?(?:dias?|semanas?|mes|meses|anos?|pessoas?|opc\w*|consultas?|vezes|vagas?|horarios?|reais|minutos?"
    r"|jejum|antecedencia|duracao|atraso|de\s+jejum|mg|ml|gotas?|comprimidos?|anos|filhos?)\b"
)
_DURATION_BEFORE_RE = re.compile(
    r"\b(?:daqui|em|por|durante|uns|umas|ha|faz|de|dura|demora|leva|levar|mais|menos|quase|cerca\s+de|apos|depois\s+de)"
    r"(?:\s+a)?\s*$"
)
_DAY_WORD_BEFORE_RE = re.compile(r"\bdias?\s*$")
_BEFORE_PREPS = ("ate", "antes")
_AFTER_PREPS = ("depois", "apos", "a partir", "partir")
_MORNING_RE = re.compile(r"\b(?:manha|cedinho|antes\s+do\s+almoco)\b|(?<!mais\s)\bcedo\b")
_LATE_RE = re.compile(r"\b(?:(?:fim|final)\s+(?:da|de)\s+tarde|(?:fim|final)\s+do\s+(?:dia|expediente)|tardinha)\b")
_AFTERNOON_RE = re.compile(
    r"\b(?:(?:depois|apos)\s+(?:do|o)\s+almoco|pos\s+almoco)\b|(?<!\bboa\s)(?<!\bmais\s)(?<!muito\s)(?<!\btao\s)(?<!\bja\s)\btarde\b"
)
_EVENING_RE = re.compile(r"(?<!\bboa\s)\bnoite\b|\bnoitinha\b")
_LUNCH_RE = re.compile(r"\b(?:hora|horario)\s+(?:do|de)\s+almoco\b")
_CANNOT = (
    r"(?:nao|nem)\s+(?:posso|poderei|consigo|da|vai\s+dar|rola|serve|tenho\s+como|vou\s+poder|vou\s+conseguir|quero"
    r"|pode(?:\s+ser)?|gosto|curto|vou\s+(?:poder\s+|conseguir\s+)?ir)\b"
)
_CAN_NOT_AFTER_RE = re.compile(r"^\s*(?:eu\s+)?" + _CANNOT)
_CAN_NOT_BEFORE_RE = re.compile(r"\b" + _CANNOT)
_CLAUSE_BREAK_RE = re.compile(r"[,?]|\b(?:mas|so|somente|apenas|porem|entao|prefiro|(?<!nao\s)pode\s+ser|melhor)\b")
_TO_BEFORE_RE = re.compile(r"\b(?:para|ate)(?:\s+(?:o|a|os|as|dia|o\s+dia|a\s+proxima|o\s+proximo))?\s*$")
_FROM_BEFORE_RE = re.compile(r"\b(?:de|da|do|das|dos)(?:\s+(?:dia|hoje))?\s*$")


@dataclass
class _Mention:
    start: int
    end: int
    first: date | None = None
    last: date | None = None
    weekday: int | None = None  # a weekday to be placed inside a range mention, if any
    day_of_month: int | None = None  # "dia 10" to be placed inside a range mention, if any
    range_only: bool = False  # a range that a weekday/day-of-month refines ("semana que vem")


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _month_bounds(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, monthrange(year, month)[1])


def _work_week(today: date) -> tuple[date, date]:
    """Monday..Saturday of this week; on a Sunday, of the coming week."""
    monday = today - timedelta(days=today.weekday())
    if today.weekday() == 6:
        monday += timedelta(days=7)
    return monday, monday + timedelta(days=5)


def _weekday_date(today: date, weekday: int, mode: str) -> date:
    delta = (weekday - today.weekday()) % 7
    if mode == "this":
        return today + timedelta(days=delta)
    if mode == "next":
        return today + timedelta(days=delta if delta >= 2 else delta + 7)
    if mode == "next_week":
        monday = _work_week(today)[0] + timedelta(days=7)
        return monday + timedelta(days=weekday)
    return today + timedelta(days=delta or 7)


def _day_month(day: int, month: int, year: int | None, today: date) -> date | None:
    if year is not None:
        if year < 100:
            year += 2000
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for candidate_year in (today.year, today.year + 1, today.year + 2, today.year + 3, today.year + 4):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue  # 29/02 outside a leap year
        if candidate >= today or (candidate_year == today.year and (today - candidate).days <= 60):
            return candidate
    return None


def _day_of_month(day: int, today: date) -> date | None:
    """The next `day` of a month on or after today ("dia 31" on 25/11 is 31/12)."""
    for offset in range(3):
        anchor = _add_months(today.replace(day=1), offset)
        if day <= monthrange(anchor.year, anchor.month)[1] and anchor.replace(day=day) >= today:
            return anchor.replace(day=day)
    return None


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 1 if word == "primeiro" else 0)


def _hour(hour: int, minute: int, period: str | None) -> dtime | None:
    if period in ("tarde", "noite"):
        if hour < 12:
            hour += 12
    elif period in ("manha", "madrugada"):
        if hour == 12 and period == "madrugada":
            hour = 0
    elif 1 <= hour <= 6:
        hour += 12
    if hour == 24 and minute == 0:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return dtime(hour, minute)


def _before(text: str, index: int, size: int = 40) -> str:
    """The few characters before `index`: look-behind checks stay linear on long messages."""
    return text[max(0, index - size) : index]


class _Masker:
    """A text whose matched spans are blanked between regex passes (linear, not per match)."""

    def __init__(self, text: str):
        self.text = text
        self._spans: list[tuple[int, int, str]] = []

    def hide(self, start: int, end: int, fill: str = " ") -> None:
        self._spans.append((start, end, fill))

    def flush(self) -> str:
        if self._spans:
            pieces, cursor = [], 0
            for start, end, fill in sorted(self._spans):
                if start < cursor:
                    continue
                pieces.append(self.text[cursor:start])
                pieces.append(fill * (end - start))
                cursor = end
            pieces.append(self.text[cursor:])
            self.text, self._spans = "".join(pieces), []
        return self.text

    def scan(self, regex: re.Pattern):
        return islice(regex.finditer(self.flush()), _MAX_MENTIONS)


def _negated(text: str, start: int, end: int) -> bool:
    """Is the mention at text[start:end] something the patient cannot do ("não posso amanhã")?"""
    before = _before(text, start, 120)
    breaks = list(_CLAUSE_BREAK_RE.finditer(before))
    scope = before[breaks[-1].end() :] if breaks else before
    if _CAN_NOT_BEFORE_RE.search(scope):
        return True
    after = text[end : end + 120]
    cut = _CLAUSE_BREAK_RE.search(after)
    return bool(_CAN_NOT_AFTER_RE.match(after[: cut.start()] if cut else after))


@dataclass
class _Times:
    exact: list[tuple[int, int, dtime]]
    not_before: dtime | None = None
    not_after: dtime | None = None
    periods: set[str] | None = None


def _scan_times(text: str) -> tuple[_Times, str]:
    """Times, bounds and periods in canonical `text`; returns them and the text with them masked."""
    found = _Times(exact=[], periods=set())
    masker = _Masker(text)
    for match in masker.scan(_TIME_RANGE_RE):
        per = match.group("per")
        h1, h2 = int(match.group("h1")), int(match.group("h2"))
        if not (
            match.group("m1")
            or match.group("m2")
            or match.group("suf")
            or per
            or masker.text[match.start() :].startswith(("entre", "das"))
        ):
            continue
        first = _hour(h1, int(match.group("m1") or 0), per)
        second = _hour(h2, int(match.group("m2") or 0), per)
        if first and second and first < second:
            found.not_before, found.not_after = first, second
            if per:
                found.periods.add(_PERIOD_OF[per])
            masker.hide(match.start(), match.end(), "#")
    for match in masker.scan(_NOON_RE):
        value = dtime(12, 30 if match.group("half") else 0) if match.group("what").startswith("meio") else dtime(0, 0)
        _place_time(found, masker.text, match, value, match.group("prep") or "")
        masker.hide(match.start(), match.end(), "#")
    for match in masker.scan(_TIME_RE):
        raw_hour, prep = match.group("h"), (match.group("prep") or "").strip()
        minute_text, half, per = match.group("m") or match.group("m2"), match.group("half"), match.group("per")
        is_word = not raw_hour.isdigit()
        marked = bool(match.group("m") or match.group("hsuf") or half or per)
        if match.group("hword"):  # "9 horas" is a time unless it is a duration ("dura 2 horas", "8 horas de jejum")
            marked = marked or bool(prep) or not _DURATION_BEFORE_RE.search(_before(masker.text, match.start()))
        if not marked and not prep:
            continue
        if is_word and not prep:
            continue
        if not marked and _NOT_TIME_AFTER_RE.match(masker.text, match.end()):
            continue
        if match.group("hsuf") and _NOT_TIME_AFTER_RE.match(masker.text, match.end()):
            continue
        if _DAY_WORD_BEFORE_RE.search(_before(masker.text, match.start("h"))):
            continue
        if prep in ("tipo", "umas") and not marked:
            continue
        minute = 30 if half == "meia" else 15 if half == "quinze" else int(minute_text or 0)
        value = _hour(_number(raw_hour), minute, per)
        if value is None:
            continue
        if per:
            found.periods.add(_PERIOD_OF[per])
        _place_time(found, masker.text, match, value, prep)
        masker.hide(match.start(), match.end(), "#")
    for match in masker.scan(_LUNCH_RE):
        found.not_before, found.not_after = found.not_before or dtime(12, 0), found.not_after or dtime(14, 0)
        masker.hide(match.start(), match.end())
    late = _LATE_RE.search(masker.flush())
    if late:
        found.periods.add(_AFTERNOON)
        found.not_before = found.not_before or _T16
        masker.hide(late.start(), late.end())
    for regex, period in ((_MORNING_RE, _MORNING), (_AFTERNOON_RE, _AFTERNOON), (_EVENING_RE, _EVENING)):
        for match in masker.scan(regex):
            if not _negated(masker.text, match.start(), match.end()):
                found.periods.add(period)
            elif period == _MORNING:  # "de manhã não posso": from noon on
                found.not_before = max(found.not_before or _NOON, _NOON)
            else:  # "à tarde/à noite não dá": before it
                limit = _NOON if period == _AFTERNOON else dtime(18, 0)
                found.not_after = min(found.not_after or limit, limit)
            masker.hide(match.start(), match.end())
    return found, masker.flush()


def _place_time(found: _Times, text: str, match: re.Match, value: dtime, prep: str) -> None:
    if prep.startswith(_BEFORE_PREPS):
        found.not_after = value
    elif prep.startswith(_AFTER_PREPS):
        found.not_before = value
    elif not _negated(text, match.start(), match.end()):
        found.exact.append((match.start("h") if "h" in match.groupdict() else match.start(), match.end(), value))


def _scan_days(text: str, today: date) -> tuple[list[_Mention], bool, str]:
    """Day mentions in canonical `text` (times already masked), the earliest flag, the masked text."""
    mentions: list[_Mention] = []
    masker = _Masker(text)

    def add(match: re.Match, first: date | None, last: date | None = None, *, at: int | None = None, **extra) -> None:
        mentions.append(_Mention(match.start() if at is None else at, match.end(), first, last or first, **extra))
        masker.hide(match.start(), match.end())

    earliest = False
    for match in masker.scan(_EARLIEST_RE):
        earliest = True
        masker.hide(match.start(), match.end())
    for match in masker.scan(_ISO_RE):
        try:
            add(match, date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
        except ValueError:
            continue
    for match in masker.scan(_NUMERIC_DATE_RE):
        d, m, y = match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6)
        if 1 <= int(m) <= 12:
            found = _day_month(int(d), int(m), int(y) if y else None, today)
            if found:
                add(match, found)
    for regex in (_NAMED_DATE_RE, _MONTH_FIRST_RE):
        for match in masker.scan(regex):
            y = match.groupdict().get("y")
            found = _day_month(_number(match.group("d")), _MONTHS[match.group("mon")], int(y) if y else None, today)
            if found:
                add(match, found)
    for match in masker.scan(_RELATIVE_RE):
        add(match, today + timedelta(days=_RELATIVE_DAYS[re.sub(r"\s+", " ", match.group(1))]))
    for match in masker.scan(_IN_DAYS_RE):
        amount, unit = _number(match.group("n")), match.group("unit")
        if unit.startswith("dia"):
            add(match, today + timedelta(days=amount))
        elif unit.startswith("semana"):
            add(match, today + timedelta(days=7 * amount))
        else:
            add(match, _add_months(today, amount))
    for match in masker.scan(_WEEKDAY_RE):
        word, pre, post = match.group("wd"), match.group("pre") or "", (match.group("post") or "").strip()
        if _NOT_WEEKDAY_AFTER_RE.match(masker.text, match.end()):
            continue
        if word == "ter" and not (
            match.group("feira") or pre in _TER_OK_PRE or post or _TIME_FOLLOWS_RE.match(masker.text, match.end())
        ):
            continue
        weekday = _WEEKDAYS[word]
        if "semana" in post and not post.startswith(("desta", "dessa", "nesta", "nessa")):
            mode = "next_week"
        elif post == "que vem" or pre.startswith("proxim"):
            mode = "next"
        elif pre in ("nesta", "neste", "nessa", "nesse", "esta", "este", "essa", "esse") or post:
            mode = "this"
        else:
            mode = "plain"
        add(
            match,
            _weekday_date(today, weekday, mode),
            at=match.start("wd"),
            weekday=weekday if mode == "plain" else None,
        )
    for match in masker.scan(_WEEKEND_RE):
        saturday = today + timedelta(days=(5 - today.weekday()) % 7)  # on a Sunday, the next weekend
        if match.group("next"):
            saturday += timedelta(days=7)
        add(match, max(saturday, today), saturday + timedelta(days=1))
    for match in masker.scan(_MONTH_END_RE):
        anchor = _add_months(today.replace(day=1), 1) if match.group("next") else today
        last = _month_bounds(anchor.year, anchor.month)[1]
        add(match, max(today, last - timedelta(days=6)), last)
    for match in masker.scan(_MONTH_START_RE):
        first = _add_months(today.replace(day=1), 1)
        add(match, first, first + timedelta(days=9))
    for match in masker.scan(_NEXT_MONTH_RE):
        first, last = _next_month(today)
        add(match, first, last, range_only=True)
    for match in masker.scan(_THIS_MONTH_RE):
        add(match, today, _month_bounds(today.year, today.month)[1], range_only=True)
    for match in masker.scan(_MONTH_ONLY_RE):
        month, pre = _MONTHS[match.group("mon")], match.group("pre")
        year = int(match.group("y")) if match.group("y") else today.year + (1 if month < today.month else 0)
        first, last = _month_bounds(year, month)
        if pre.startswith(("inicio", "comeco")):
            last = first + timedelta(days=9)
        elif pre.startswith("meados"):
            first, last = first + timedelta(days=10), first + timedelta(days=19)
        elif pre.startswith(("fim", "final")):
            first = first + timedelta(days=20)
        if last < today and not match.group("y"):
            continue
        add(match, max(first, today) if not match.group("y") else first, last, range_only=True)
    for match in masker.scan(_NEXT_WEEK_RE):
        monday = _work_week(today)[0] + timedelta(days=7)
        add(match, monday, monday + timedelta(days=5), range_only=True)
    for match in masker.scan(_THIS_WEEK_RE):
        add(match, today, _work_week(today)[1], range_only=True)
    for match in masker.scan(_DAY_ONLY_RE):
        day = _number(match.group("d"))
        if not 1 <= day <= 31:
            continue
        add(match, _day_of_month(day, today), day_of_month=day)
    mentions.sort(key=lambda mention: mention.start)
    return [m for m in mentions if m.first is not None], earliest, masker.flush()


def _next_month(today: date) -> tuple[date, date]:
    first = _add_months(today.replace(day=1), 1)
    return _month_bounds(first.year, first.month)


def _prefer_targets(text: str, items: list, key=lambda item: item.start):
    """With "de X para Y", keep the "para" ones."""
    if len(items) < 2:
        return items
    to = [item for item in items if _TO_BEFORE_RE.search(_before(text, key(item)))]
    origin = [item for item in items if _FROM_BEFORE_RE.search(_before(text, key(item)))]
    if to and origin:
        return [item for item in items if item not in origin or item in to]
    return items


def _resolve_days(mentions: list[_Mention], canon: str) -> tuple[date | None, date | None]:
    kept = [m for m in mentions if not _negated(canon, m.start, m.end)]
    kept = _prefer_targets(canon, kept)
    if not kept:
        return None, None
    ranges = [m for m in kept if m.range_only]
    singles = [m for m in kept if not m.range_only]
    if ranges and singles:
        frame = ranges[0]
        placed: list[date] = []
        for mention in singles:
            if mention.weekday is not None:
                delta = (mention.weekday - frame.first.weekday()) % 7
                candidate = frame.first + timedelta(days=delta)
                placed.append(candidate if candidate <= frame.last else mention.first)
            elif mention.day_of_month is not None:
                candidate = _day_in_range(mention.day_of_month, frame.first, frame.last)
                placed.append(candidate or mention.first)
            else:
                placed.append(mention.first)
        return min(placed), max(placed)
    firsts = [m.first for m in kept]
    lasts = [m.last for m in kept]
    return min(firsts), max(lasts)


def _day_in_range(day: int, first: date, last: date) -> date | None:
    cursor = first.replace(day=1)
    while cursor <= last:
        if day <= monthrange(cursor.year, cursor.month)[1]:
            candidate = cursor.replace(day=day)
            if first <= candidate <= last:
                return candidate
        cursor = _add_months(cursor, 1)
    return None


def parse_when(text: str, *, today: date) -> When | None:
    """What `text` says about when, relative to the clinic's local `today`; None when nothing."""
    canon = _canon(text)
    if not canon:
        return None
    times, rest = _scan_times(canon)
    mentions, earliest, _ = _scan_days(rest, today)
    first, last = _resolve_days(mentions, rest)
    exact = _prefer_targets(canon, times.exact, key=lambda item: item[0])
    value = None
    not_before, not_after = times.not_before, times.not_after
    if len(exact) == 1:
        value = exact[0][2]
    elif len(exact) > 1:
        values = sorted({item[2] for item in exact})
        if len(values) == 1:
            value = values[0]
        else:
            not_before, not_after = not_before or values[0], not_after or values[-1]
    periods = times.periods or set()
    period = next(iter(periods)) if len(periods) == 1 else ""
    if earliest and first is None:
        first, last = today, today + timedelta(days=14)
    if first is None and value is None and not period and not_before is None and not_after is None and not earliest:
        return None
    return When(
        first_day=first,
        last_day=last,
        time=value,
        period=period,
        not_before=not_before,
        not_after=not_after,
        past=bool(last and last < today),
        earliest=earliest,
    )


# --- intents ----------------------------------------------------------------------------------


def _rx(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_EMERGENCY_RE = _rx(
    r"\b(?:dor|dores|aperto|pressao|pontada)\s+(?:forte\s+|muito\s+forte\s+)?(?:no|na)\s+peito\b",
    r"\bfalta\s+de\s+ar\b",
    r"\bnao\s+(?:consigo|consegue|to\s+conseguindo|estou\s+conseguindo|esta\s+conseguindo)\s+respirar\b",
    r"\b(?:desmai\w*|infarto|infartando|enfarto|enfarte|avc|derrame|convuls\w*|overdose|envenen\w*|inconsciente)\b",
    r"\bsangr\w*\s+(?:muito|demais|bastante|sem\s+parar)\b",
    r"\b(?:sangramento|hemorragia)\s+(?:forte|intens\w*|grande|que\s+nao\s+para)\b",
    r"\bnao\s+para\s+de\s+sangrar\b|\bhemorragia\b",
    r"\bemergencia\b",
    r"\b(?:me\s+matar|suicid\w*|tirar\s+(?:a\s+)?minha\s+(?:propria\s+)?vida|acabar\s+com\s+(?:a\s+)?minha\s+vida)\b",
    r"\bnao\s+quero\s+mais\s+viver\b|\bquero\s+morrer\b|\bvou\s+me\s+matar\b",
    r"\b(?:boca|rosto)\s+tort[oa]\b|\bnao\s+(?:acorda|responde|respira)\b|\bdesacordad\w*|\bengasgad\w*",
    r"\bbateu\s+a\s+cabeca\b|\bfratura\s+exposta\b|\bqueimadura\s+(?:grave|grande|feia)\b",
    r"\b(?:crise|ataque)\s+(?:de\s+)?(?:asma|alergica|anafilatic\w*)\b|\banafilax\w*|\bpicada\s+de\s+cobra\b",
)
_NOT_EMERGENCY_RE = re.compile(r"\bnao\s+e\s+(?:uma\s+)?emergencia\b|\bem\s+caso\s+de\s+emergencia\b")
_INJECTION_RAW_RE = re.compile(
    r"\{\s*\"(?:name|tool|function|arguments|role)\"\s*:|\"tool_calls\"|tool_calls|function_call|<\s*/?\s*tool_call\s*>"
    r"|<\|im_start\|>|<\|system\|>|\[/?inst\]|<<sys>>|\"role\"\s*:\s*\"(?:system|assistant|tool)\""
)
_INJECTION_RE = _rx(
    r"\b(?:ignor\w*|esquec\w*|desconsider\w*|descart\w*)\s+(?:todas\s+)?(?:as\s+|os\s+)?(?:suas\s+|tuas\s+)?"
    r"(?:\w+\s+)?(?:instruc\w*|regras|orientac\w*|comandos)",
    r"\bignore\s+(?:all\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|earlier|system)\s+(?:instructions|rules|prompts?)",
    r"\bprompts?\b",
    r"\b(?:voce|tu)\s+agora\s+(?:e|sera|vai\s+ser)\b",
    r"\ba\s+partir\s+de\s+agora\s+(?:voce|tu)\s+(?:e|sera|vai|deve|responde)",
    r"\bmodo\s+(?:desenvolvedor|dev|deus|admin|administrador|debug|irrestrito)\b",
    r"\b(?:developer|dan|god|debug)\s+mode\b|\bjailbreak\w*\b|\byou\s+are\s+now\b|\bact\s+as\b",
    r"\bfinj[ao]\s+(?:que|ser)\b|\bfinge\s+(?:que|ser)\b|\bfaca\s+de\s+conta\b|\b(?:aja|atue)\s+como\b",
    r"\b(?:novas|suas|tuas)\s+instrucoes\b|\bnew\s+instructions\b|\bregras\s+internas\b",
    r"\b(?:consultas?|agendamentos?|horarios?|dados|telefones?|cpf|enderecos?|nomes?|agenda)\s+(?:de|dos|das)\s+"
    r"(?:outr[oa]s?|tod[oa]s\s+(?:os|as)|demais)\s+(?:pacientes?|pessoas?|clientes?|usuarios?)",
    r"\b(?:tod[oa]s\s+(?:os|as)\s+|lista\w*\s+(?:de\s+|dos\s+|os\s+)?|demais\s+)(?:pacientes|clientes|usuarios)\b",
    r"\b(?:quais|que)\s+(?:sao\s+)?(?:as\s+)?(?:consultas?|horarios?|agendamentos?)\s+(?:que\s+)?(?:a|o|da|do)\s+"
    r"(?!minha\b|meu\b|clinica\b|voces\b|doutora\b|doutor\b|dra\b|dr\b|senhora\b|senhor\b)[a-z]+\s+(?:tem|possui|marcou)\b",
    r"\b(?:quando|que\s+horas)\s+e\s+a\s+consulta\s+(?:da|do)\s+"
    r"(?!minha\b|meu\b|clinica\b|doutora\b|doutor\b|dra\b|dr\b|manha\b|tarde\b)[a-z]{3,}",
)
_HUMAN_RE = _rx(
    # paperwork only the staff can handle
    r"\b(?:atestado|laudo|declaracao\s+de\s+comparecimento|resultados?\s+(?:do|de|dos)\s+(?:meu\s+)?exames?)\b",
    r"\bexames?\s+(?:ficou|ficaram|esta|estao|ja\s+esta)\s+pront[oa]s?\b",
    r"\b(?:atendente|recepcionista|humano|humana|operador\w*|atendimento\s+humano)\b",
    r"\b(?:pessoa|gente)\s+(?:de\s+verdade|real|humana)\b|\bser\s+humano\b",
    r"\bfalar\s+com\s+(?:alguem|uma\s+pessoa|um\s+atendente|a\s+atendente|um\s+humano|uma\s+humana|a\s+recepcao"
    r"|a\s+clinica|um\s+responsavel|o\s+responsavel|a\s+secretaria|o\s+gerente|a\s+gerente|a\s+dra\b|o\s+dr\b"
    r"|a\s+doutora|o\s+doutor|a\s+medica|o\s+medico|gente|pessoas)",
    r"\b(?:nao\s+quero\s+falar\s+com|chega\s+de|odeio|detesto)\s+(?:um\s+)?(?:robo|bot|maquina)\b",
    r"\b(?:voce|tu)\s+e\s+(?:um\s+|uma\s+)?(?:robo|bot|maquina|ia|inteligencia\s+artificial)\b",
    r"\b(?:me\s+liga|me\s+ligue|pode\s+me\s+ligar|alguem\s+me\s+ligar|ligar\s+para\s+mim)\b",
)
_NEGATED_VERB_RE = re.compile(
    r"\b(?:nao|nem|sem)\s+(?:(?:quero|queria|precisa|preciso|precisamos|vou|vai|pode|posso|devo|deve|e|para|mais|que"
    r"|gostaria|de|tem|ha|necessidade|necessario|quer|mais)\s+){0,3}"
    r"(?P<verb>cancel\w*|desmarc\w*|remarc\w*|reagend\w*|marc\w*|agend\w*|confirm\w*|mud\w*|troc\w*)"
)
_CANCEL_RE = _rx(
    r"\b(?:cancel\w*|desmarc\w*|desist\w*)\b",
    r"\bnao\s+(?:vou|irei|poderei)\s+mais\b",
    r"\bnao\s+(?:quero|preciso|vou\s+precisar)\s+mais\s+(?:d[ae]\s+|a\s+|minha\s+|da\s+minha\s+)?(?:consulta|horario)",
)
_SOFT_CANCEL_RE = re.compile(
    r"\bnao\s+(?:vou|irei|poderei|consigo|vou\s+conseguir)\s+(?:poder\s+)?(?:ir|comparecer)\b|\bnao\s+vou\s+poder\b"
)
_BOOK_AGAIN_RE = re.compile(
    r"\b(?:marcar|agendar|marca|agenda|marque|agende)\s+(?:(?:uma|um|a|o|ela|isso)\s+)?(?:outr[oa]|para|de\s+novo|novamente)\b"
)
_CANCEL_POLICY_RE = re.compile(
    r"\b(?:politica|taxa|multa|regras?|prazo)\s+(?:de|para|por|do)\s+(?:o\s+)?cancel\w*|\bcobra\w*\s+(?:pelo|o)\s+cancel\w*"
)
_RESCHEDULE_RE = _rx(
    r"\b(?:remarc\w*|reagend\w*|adiar|adia|adie|adiando|antecipar|antecipa|antecipe)\b",
    r"\b(?:mudar|muda|mude|trocar|troca|troque|alterar|altera|altere|passar|passa|mover|move|jogar|joga|transferir"
    r"|transfere|empurrar|deixar|ir)\s+(?:(?:o|a|de|minha|meu|da|do|para|pra|dia|essa|esta|consulta|em|num|numa)"
    r"\s+){0,3}(?:outr[oa]\s+(?:dia|data|horario|hora|semana|dia\s+da\s+semana))\b",
    r"\b(?:mudar|muda|mude|trocar|troca|troque|alterar|altera|altere|transferir|mover)\s+(?:(?:o|a|de|minha|meu|da|do"
    r"|essa|esta)\s+){0,2}(?:horario|dia|data|hora|consulta|agendamento)\b",
    r"\b(?:mudar|muda|mude|trocar|troca|troque|passar|passa|passe|jogar|joga|adiantar|adianta|empurrar|transferir)\s+"
    r"(?:(?:a|o|ela|isso|minha\s+consulta|a\s+consulta|o\s+horario)\s+)?(?:para|ate)\s+(?:o\s+dia\s+|a\s+|o\s+)?"
    r"(?:amanha|hoje|depois|segunda|terca|quarta|quinta|sexta|sabado|proxima|proximo|semana|outro|outra|dia|mes|\d)",
)
_BOOK_STRONG_RE = _rx(
    r"\b(?:marcar|marca|marque|marcam|marcaria|marcasse|marcacao|agendar|agende|agendamento|agendaria|encaixar|encaixe"
    r"|encaixa|encaixo|consultar)\b",
    r"(?<!minha\s)\bagenda\b",
    r"\b(?:tem|ha|existe|teria|tera|tinha|tem\s+como\s+ter)\s+(?:algum\s+|alguma\s+|um\s+|uma\s+)?"
    r"(?:horario|vaga|hora|disponibilidade|consulta)s?(?!\s+(?:de|para|pra)\s+(?:carro|estacion\w*|moto|funcionamento"
    r"|atendimento|almoco))\b",
    r"\b(?:horario|vaga|data)s?\s+(?:disponive\w*|livres?|vagos?)\b",
    r"\b(?:gostaria|queria|quero|preciso|precisava|desejo|vou\s+querer)\s+(?:de\s+)?(?:uma?\s+)?"
    r"(?:consulta|horario|atendimento|avaliacao|retorno|vaga|sessao|encaixe|ser\s+atendid\w*|passar\s+(?:com|na|no|por|em)"
    r"|ir\s+(?:ai|na\s+clinica)|uma\s+consulta)\b",
    r"\b(?:quando|qual)\s+(?:e\s+)?(?:o\s+)?(?:proximo\s+)?(?:tem|teria|ha)\s+(?:horario|vaga)",
    r"\b(?:ver|saber|consultar)\s+(?:os\s+|uns\s+)?horarios\b",
    r"\b(?:manda|mande|envia|envie|passa|passe|mostra|mostre|lista|liste|quais\s+(?:sao\s+)?)\s+(?:me\s+)?(?:os\s+|as\s+)?"
    r"(?:horarios|vagas|datas)(?!\s+de\s+(?:funcionamento|atendimento))\b",
    r"\b(?:horarios|vagas)\s+(?:de\s+amanha|de\s+hoje|para|na|no|da\s+semana|desta|dessa|nesta|nessa)\b",
    r"\btem\s+(?:algum\s+|alguma\s+)?(?:medic[oa]|doutor|doutora|dra|dr|dentista)\s+(?:[a-z]+\s+)?(?:hoje|amanha|agora"
    r"|atendendo|disponivel|sabado|segunda|terca|quarta|quinta|sexta)\b",
)
_BOOK_WEAK_RE = re.compile(
    r"(?<!minha\s)(?<!sua\s)\bconsulta\s+(?:para|amanha|hoje|dia|na|no|nessa|nesta|essa|esta|semana|sexta|segunda|terca"
    r"|quarta|quinta|sabado|de\s+manha|a\s+tarde|as\s+\d)"
)
_MY_APPOINTMENTS_RE = _rx(
    r"\bminhas\s+consultas\b",
    r"\b(?:meus|minhas)\s+(?:agendamentos|horarios|marcacoes)\b",
    r"\b(?:tenho|tem|teria|ha|existe)\s+(?:alguma\s+|algum\s+|uma\s+|um\s+)?(?:consulta|horario|agendamento)s?\s+"
    r"(?:\w+\s+){0,2}?(?:marcad|agendad|confirmad)\w*",
    r"\b(?:tenho|vou\s+ter)\s+(?:alguma\s+|uma\s+)?consulta\b",
    r"\besqueci\s+(?:o\s+horario|a\s+data|o\s+dia|quando|a\s+hora|que\s+horas)\b",
    r"\b(?:estou|ja\s+estou|fiquei|ja\s+esta|esta)\s+(?:marcad|agendad)[oa]\b",
)
_MY_APPOINTMENT_SUBJECT_RE = re.compile(r"\b(?:minha\s+consulta|meu\s+(?:horario|agendamento|retorno))\b")
_MY_APPOINTMENT_QUESTION_RE = re.compile(
    r"\?|\b(?:quando|que\s+horas|qual|confirmad\w*|marcad\w*|agendad\w*|de\s+pe|continua|mantida|lembrar|lembra)\b"
)
_CONFIRM_RE = _rx(
    r"\bconfirm(?:o|ar|ado|ada|ando|amos|a|ei|adissimo|adissima)\b",
    r"\bvou\s+sim\b|\bvou\s+comparecer\b|\bestarei\s+(?:la|presente|ai)\b|\bpresenca\s+confirmada\b",
    r"\bpode\s+contar\s+comigo\b|\bestarei\s+ai\b|\bcom\s+certeza\s+vou\b",
)
_MEDICAL_RE = _rx(
    r"\b(?:que|qual|quais)\s+(?:remedio|medicamento|medicacao|antibiotico|pomada|colirio|xarope|dose)s?\b",
    r"\b(?:posso|devo|pode)\s+(?:tomar|usar|passar|misturar|parar\s+de\s+tomar|beber|aplicar)\b",
    r"\b(?:tomar|tomo|tomando|tomei)\s+(?:dipirona|paracetamol|ibuprofeno|remedio|antibiotico|amoxicilina|tylenol"
    r"|novalgina|dorflex|buscopan|omeprazol|rivotril|anticoncepcional)\b",
    r"\be\s+normal\s+(?:sentir|ter|estar|ficar|doer|sangrar|sair|aparecer|inchar|coçar|cocar)\b",
    r"\bo\s+que\s+(?:pode|poderia)\s+ser\b",
    r"\b(?:diagnostic\w*|dosagem|posologia|contraindica\w*|efeitos?\s+colatera\w*)\b",
    r"\bquant[oa]s\s+(?:mg|ml|gotas|comprimidos)\b",
    r"\b(?:estou|to|estou\s+com|sinto|sentindo|tenho|meu\s+filho\s+esta|minha\s+filha\s+esta)\s+(?:com\s+)?(?:uma\s+)?"
    r"(?:dor|dores|febre|tosse|coceira|manchas?|alergia|enjoo|nausea|diarreia|tontura|inchaco|caroco|ferida|sintomas?)\b",
    r"\b(?:e\s+grave|sintomas?\s+de)\b",
    r"\b(?:pode|poderia)\s+me\s+(?:receitar|passar\s+(?:uma\s+)?receita|indicar\s+(?:um|uma|algum)\s+(?:remedio|pomada))\b",
    r"\b(?:indica|recomenda)\s+(?:algum|um|uma)\s+(?:remedio|pomada|medicamento)\b",
)
_THANKS_RE = re.compile(r"\b(?:obrigad\w*|agradec\w*|valeu|grat[oa]|thanks|thank\s+you|gratidao)\b")
_GOODBYE_RE = re.compile(
    r"\b(?:tchau|ate\s+mais|ate\s+logo|ate\s+breve|ate\s+a\s+proxima|ate\s+amanha|falou|bye|adeus|fui|abracos|beijos)\b"
)
_GREETING_RE = re.compile(
    r"\b(?:oi|ola|alo|opa|bom\s+dia|boa\s+tarde|boa\s+noite|e\s+ai|salve|hello|hi|hey|tudo\s+bem|tudo\s+bom|como\s+vai)\b"
)

_INFO_TOPICS: list[tuple[str, re.Pattern]] = [
    (
        "parking",
        _rx(
            r"\bestacion\w*\b|\bvalet\b|\bmanobrista\b",
            r"\bvagas?\s+(?:de|para|pra)\s+(?:carro|moto|estacionar)\b|\bonde\s+(?:paro|parar|deixo)\s+o\s+carro\b",
        ),
    ),
    (
        "address",
        _rx(
            r"\b(?:endereco|localizacao|mapa|ponto\s+de\s+referencia|bairro|cep)\b",
            r"\bonde\s+(?:fica|ficam|voces\s+ficam|e\s+a\s+clinica|e\s+o\s+consultorio|e\s+a\s+clinica|e\s+ai|voces\s+estao"
            r"|e\s+o\s+endereco|e|esta\s+localizad\w*)\b",
            r"\bcomo\s+(?:chego|chegar|faco\s+para\s+chegar)\b|\bfica\s+onde\b|\bqual\s+(?:a|e\s+a)\s+rua\b",
        ),
    ),
    (
        "hours",
        _rx(
            r"\bhorarios?\s+de\s+(?:funcionamento|atendimento|abertura)\b|\bexpediente\b",
            r"\b(?:que|quais)\s+horas?\s+(?:voces\s+)?(?:abre|abrem|fecha|fecham|funciona|funcionam|atende|atendem)\b",
            r"\b(?:abre|abrem|fecha|fecham|funciona|funcionam)\s+(?:que\s+horas|ate|aos|no|nos|na|de|sabado|domingo"
            r"|feriado|hoje|amanha|segunda|sexta)\b",
            r"\b(?:atendem|atende|abrem|abre|funcionam|funciona)\s+(?:aos?\s+|nos?\s+|de\s+|em\s+)?(?:sabados?|domingos?|feriados?)\b",
            r"\bate\s+que\s+horas\b|\b(?:voces\s+)?(?:estao|esta)\s+abert[oa]s?\b",
            r"\bqual\s+(?:o\s+|e\s+o\s+)?horario\s+(?:de\s+)?(?:voces|da\s+clinica|do\s+consultorio)\b",
        ),
    ),
    (
        "prices",
        _rx(
            r"\bquanto\s+(?:custa|e|fica|sai|cobra|cobram|esta|ta|seria|custaria|vale)\b",
            r"\b(?:valor|valores|preco|precos|custo|custa|taxa|orcamento)\b",
        ),
    ),
    (
        "insurance",
        _rx(
            r"\b(?:convenio|convenios|plano\s+de\s+saude|planos?|unimed|amil|bradesco\s+saude|sulamerica|sul\s+america"
            r"|hapvida|notredame|notre\s+dame|intermedica|porto\s+seguro|cassi|geap|golden\s+cross|prevent\s+senior"
            r"|reembolso|particular|sus|ipsemg|iamspe)\b",
        ),
    ),
    (
        "payment",
        _rx(
            r"\b(?:pix|cartao|cartoes|credito|debito|dinheiro|boleto|parcel\w*|pagamento|pagar|pago|maquininha"
            r"|transferencia|recibo|nota\s+fiscal)\b",
        ),
    ),
    (
        "preparation",
        _rx(
            r"\b(?:jejum|preparo|preparacao|preparar|encaminhamento|pedido\s+medico|guia)\b",
            r"\b(?:levar|trazer)\b|\bchegar\s+(?:com\s+)?(?:antecedencia|antes)\b|\bquanto\s+tempo\s+antes\b",
            r"\b(?:precis\w*|tenho\s+que|devo)\s+(?:\w+\s+)?(?:documento|documentos|exames?)\b",
        ),
    ),
    (
        "professionals",
        _rx(
            r"\b(?:quais|qual|que)\s+(?:sao\s+)?(?:os\s+|as\s+|o\s+|a\s+)?(?:medic[oa]s?|doutor\w*|profissiona\w*|dentistas?"
            r"|especialistas?|psicolog[oa]s?|nutricionistas?|fisioterapeutas?)\b",
            r"\bquem\s+(?:atende|e\s+o\s+medico|e\s+a\s+medica|sao\s+os|vai\s+me\s+atender|sao\s+as)\b",
            r"\b(?:corpo\s+clinico|equipe|crm)\b|\bquem\s+e\s+(?:a|o)\s+(?:dra|dr|doutora|doutor)\b",
            r"\b(?:dra|dr|doutora|doutor)\s+[a-z]+\s+(?:atende|trabalha|esta\s+atendendo|vem)\b",
            r"\bespecialidade\s+(?:da|do)\b",
        ),
    ),
    (
        "services",
        _rx(
            r"\b(?:quais|que)\s+(?:sao\s+)?(?:os\s+|as\s+)?(?:servicos|especialidades|procedimentos|exames|tratamentos"
            r"|consultas|tipos\s+de\s+consulta)\b",
            r"\b(?:servicos|especialidades|procedimentos|tratamentos)\b",
            r"\b(?:fazem|faz|realiza|realizam|oferecem|oferece)\s+(?:\w+\s+)?(?:botox|limpeza|exames?|procedimentos?"
            r"|cirurgias?|preenchimento|tratamentos?|ultrassom|ultrasson|raio|eletrocardiograma|check\s*up|testes?"
            r"|vacinas?|depilacao|peeling|laser|consulta\s+de)\b",
            r"\bo\s+que\s+(?:voces\s+)?(?:fazem|oferecem)\b",
            r"\b(?:tem|voces\s+tem|atendem|atende)\s+(?:algum\s+|alguma\s+)?(?:dermatolog\w*|pediatra|ginecolog\w*"
            r"|cardiolog\w*|ortoped\w*|psicolog\w*|nutricion\w*|fisioterap\w*|oftalmo\w*|dentista|clinico\s+geral)\b",
        ),
    ),
]


def info_topic(text: str) -> str | None:
    """The clinic-information topic asked about, the first one mentioned when several are."""
    canon = _canon(text)
    best: tuple[int, str] | None = None
    for topic, regex in _INFO_TOPICS:
        match = regex.search(canon)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), topic)
    return best[1] if best else None


def _strip_negated(canon: str) -> tuple[str, bool]:
    negated = False

    def blank(match: re.Match) -> str:
        nonlocal negated
        negated = True
        return " ~ " + " " * (len(match.group()) - 3)

    return _NEGATED_VERB_RE.sub(blank, canon), negated


def detect_intent(text: str) -> str:
    """What the patient wants.

    One of "book", "reschedule", "cancel", "my_appointments", "confirm", "clinic_info", "human",
    "greeting", "thanks", "goodbye", "emergency", "medical_question", "prompt_injection", "yes",
    "no", "unknown". Priority: emergency > prompt_injection > human > cancel > reschedule >
    my_appointments > book > clinic_info > medical_question > confirm > goodbye > thanks >
    greeting > yes/no > unknown, with these adjustments: a negated verb ("não quero cancelar",
    "não precisa remarcar") does not count, and when nothing else is left the answer is "no";
    cancelling together with remarcar/another day is "reschedule"; a weak booking cue
    ("consulta para amanhã") yields to a clinic-information question. "human" also covers
    paperwork only staff can handle (atestado, laudo, resultado de exame) and "você é um robô?".
    A message that only says when ("dia 3 às 10h") is "unknown": the engine reads it with
    `parse_when` in context. When a yes/no question is pending, ask `yes_no` first: "pode
    cancelar" is "cancel" here but True there.
    """
    canon = _canon(text)
    if not canon:  # emojis only
        answer = yes_no(text)
        if answer is not None:
            return "yes" if answer else "no"
        return "thanks" if "\U0001f64f" in text else "unknown"
    if _EMERGENCY_RE.search(_NOT_EMERGENCY_RE.sub(" ", canon)):
        return "emergency"
    if _INJECTION_RAW_RE.search(text.lower()) or _INJECTION_RE.search(canon):
        return "prompt_injection"
    if _HUMAN_RE.search(canon):
        return "human"
    stripped, negated = _strip_negated(canon)
    reschedule = bool(_RESCHEDULE_RE.search(stripped))
    cancel_text = _CANCEL_POLICY_RE.sub(" ", stripped)
    if _CANCEL_RE.search(cancel_text):
        if reschedule or _BOOK_AGAIN_RE.search(cancel_text):
            return "reschedule"
        return "cancel"
    if _SOFT_CANCEL_RE.search(stripped) and not reschedule:
        return "cancel"
    if reschedule:
        return "reschedule"
    book_strong = bool(_BOOK_STRONG_RE.search(stripped))
    if _MY_APPOINTMENTS_RE.search(stripped) or (
        _MY_APPOINTMENT_SUBJECT_RE.search(stripped) and _MY_APPOINTMENT_QUESTION_RE.search(stripped) and not book_strong
    ):
        return "my_appointments"
    topic = info_topic(text)
    if book_strong or (_BOOK_WEAK_RE.search(stripped) and topic is None):
        return "book"
    if topic:
        return "clinic_info"
    if _MEDICAL_RE.search(stripped):
        return "medical_question"
    if _CONFIRM_RE.search(stripped):
        return "confirm"
    if _GOODBYE_RE.search(stripped):
        return "goodbye"
    if _THANKS_RE.search(stripped):
        return "thanks"
    answer = yes_no(text)
    if _GREETING_RE.search(stripped) and answer is None:
        return "greeting"
    if answer is not None:
        return "yes" if answer else "no"
    if negated:
        return "no"
    return "unknown"


# --- yes / no ---------------------------------------------------------------------------------

_YES_EMOJI = ("\U0001f44d", "\U0001f44c", "\u2705", "\u2714", "\U0001f197", "\U0001f64c")
_NO_EMOJI = ("\U0001f44e", "\u274c", "\u2716", "\U0001f6ab")
_NOT_AN_ANSWER_RE = re.compile(
    r"^(?:eu\s+)?(?:nao|nem)\s+(?:sei|lembro|entendi|entendo|tenho\s+certeza|faco\s+ideia|recebi|vi)\b"
)
_NO_RE = re.compile(
    r"^(?:eu\s+)?(?:nao|nope|negativo|nem\s+pensar|de\s+jeito\s+nenhum|jamais|nunca|deixa\s+(?:pra|para)\s+la|deixa\s+quieto"
    r"|deixa\s+assim|esquece|esqueca|melhor\s+nao|agora\s+nao|acho\s+que\s+nao|claro\s+que\s+nao|pode\s+ser\s+que\s+nao"
    r"|mantem|mantenha|manter|mantenho|quero\s+manter|prefiro\s+(?:manter|nao)|nada\s+disso|errado|incorreto|nenhum|nenhuma"
    r"|cancela\s+nao|nao\s+precisa)\b"
)
_NO_WEAK_RE = re.compile(r"^(?:deixa|deixe|nem)\s*(?:[,?]|$)")
_YES_STRONG_RE = re.compile(
    r"^(?:sim|s|ss|yes|isso|isso\s+mesmo|isso\s+ai|claro|claro\s+que\s+sim|com\s+certeza|certeza|confirmo|confirmado"
    r"|confirmada|ok|certo|beleza|fechado|perfeito|otimo|positivo|exato|exatamente|uhum|aham|ahan|combinado|correto"
    r"|de\s+acordo|estou\s+de\s+acordo|concordo|aceito|tudo\s+certo|pode\s+sim|quero\s+sim|acho\s+que\s+sim|sim\s+sim"
    r"|pode\s+(?:cancelar|desmarcar|marcar|remarcar|confirmar|agendar|reagendar)|por\s+favor\s+pode)\b"
)
_YES_WEAK_RE = re.compile(
    r"^(?:pode|pode\s+ser|quero|ta|ta\s+bom|ta\s+certo|ta\s+otimo|esta\s+bem|esta\s+certo|esta\s+otimo|serve|bora"
    r"|vamos|show|top|demorou|tranquilo|fechou|por\s+favor|confirma|quero\s+sim|pode\s+ir|manda\s+ver)"
    r"(?:\s+(?:sim|por\s+favor|entao|mesmo|obrigad[oa]|pode))*\s*(?:[,?]|$)"
)


def yes_no(text: str) -> bool | None:
    """A yes/no answer: True, False, or None when the message is neither.

    The first words decide ("sim, mas..." is yes; "não, pode cancelar" is no); "claro que não",
    "acho que não" are no; "não sei"/"não entendi" are neither. Loose words ("pode", "quero",
    "tá") count only when they are the whole first clause ("pode ser amanhã?" is a counter-offer,
    not a yes). A negated verb ("não quero cancelar", "não precisa remarcar") is no. Emojis
    👍 ✅ / 👎 ❌ count when the text has no words.
    """
    canon = _canon(text).strip(" ,?")
    if not canon:
        if any(mark in text for mark in _YES_EMOJI):
            return True
        if any(mark in text for mark in _NO_EMOJI):
            return False
        return None
    canon = re.sub(r"^(?:(?:ah|ai|hum|hmm|bom|entao|olha|oi|ola|opa|e)\s+(?:,\s+)?)+", "", canon).strip(" ,?")
    if _NOT_AN_ANSWER_RE.match(canon):
        return None
    if re.match(r"^(?:claro|acho|pode\s+ser)\s+que\s+nao\b", canon):
        return False
    if _NO_RE.match(canon) or _NO_WEAK_RE.match(canon):
        return False
    if _YES_STRONG_RE.match(canon) or _YES_WEAK_RE.match(canon):
        return True
    first_clause = re.split(r"\s*[,?]\s*", canon)[0]
    if len(first_clause.split()) <= 4:
        if re.search(r"\b(?:sim|pode\s+sim|isso\s+mesmo|com\s+certeza)\b", first_clause):
            return True
        if re.search(r"\b(?:nao|melhor\s+nao)\b", first_clause):
            return False
    return None


# --- names ------------------------------------------------------------------------------------

_NAME_TITLES = frozenset("dr dra doutor doutora prof professor professora sr sra senhor senhora".split())
_PARTICLES = frozenset("de da do das dos e d".split())
_GENERIC_SERVICE_WORDS = frozenset(
    "consulta consultas avaliacao exame exames sessao procedimento atendimento clinica clinico geral".split()
)
_TEXT_STOP = frozenset(
    """a o as os um uma de da do das dos e com para por em no na nos nas que quero queria marcar agendar
    gostaria preciso me eu meu minha voce voces pode tem ter sim nao oi ola bom boa dia tarde noite""".split()
)


def _token_similarity(name_token: str, text_token: str) -> float:
    if name_token == text_token:
        return 1.0
    short, long_ = sorted((name_token, text_token), key=len)
    if len(short) >= 4 and long_.startswith(short):
        return 0.95
    common = 0
    for left, right in zip(name_token, text_token, strict=False):
        if left != right:
            break
        common += 1
    if common >= 6 or (common >= 5 and common >= 0.7 * len(short)):
        return 0.9
    if len(short) >= 5:
        ratio = fuzz.ratio(name_token, text_token) / 100
        if ratio >= 0.8:
            return ratio
    return 0.0


def _name_tokens(name: str) -> list[str]:
    return [t for t in plain(name).split() if t not in _NAME_TITLES and t not in _PARTICLES and len(t) >= 2]


def match_name(text: str, names: list[str]) -> str | None:
    """The one service or professional of `names` that `text` mentions (fuzzy, accent- and
    typo-tolerant, prefixes allowed: "dermato" -> "Avaliação dermatológica"); None when none or
    when two score the same."""
    tokens = [t for t in plain(text).split() if t not in _TEXT_STOP and t not in _NAME_TITLES and len(t) >= 2]
    if not tokens or not names:
        return None
    scores: list[tuple[float, float, str]] = []
    for name in names:
        parts = _name_tokens(name)
        if not parts:
            continue
        score, matched = 0.0, 0
        for index, part in enumerate(parts):
            if len(part) < 3 and part not in tokens:
                continue
            best = max((_token_similarity(part, token) for token in tokens), default=0.0)
            if best:
                matched += 1
                weight = (0.6 if index == 0 else 0.3) if part in _GENERIC_SERVICE_WORDS else 1.0
                score += weight * best
        scores.append((score, matched / len(parts), name))
    scores.sort(key=lambda item: (item[0], item[1]), reverse=True)
    if not scores or scores[0][0] < 0.5:
        return None
    if len(scores) > 1 and scores[1][0] >= scores[0][0] - 0.05 and scores[1][1] >= scores[0][1]:
        return None
    return scores[0][2]


_NOT_NAME_WORDS = frozenset(
    """a o as os um uma uns umas de da do das dos e em no na nos nas com sem para por pelo pela ao aos que se
    eu tu ele ela nos voce voces meu minha meus minhas seu sua mim comigo dele dela aqui ali la isso isto esse
    essa este esta aquele aquela nome sou chamo fala falando quem paciente cliente nova novo primeira vez
    quero queria gostaria preciso precisava posso pode poderia marcar marca agendar agenda remarcar cancelar
    desmarcar confirmar confirmo consulta consultas horario horarios vaga vagas exame exames retorno
    avaliacao atendimento hoje amanha ontem depois antes agora logo cedo tarde noite manha dia semana mes
    segunda terca quarta quinta sexta sabado domingo feira janeiro fevereiro abril maio junho julho agosto
    setembro outubro novembro dezembro sim nao ok claro certo beleza tudo bem bom boa oi ola opa obrigado
    obrigada valeu tchau ate mais menos muito pouco tambem so apenas ainda ja sempre nunca tem ter tenho estou
    esta estava vou vai foi era sera ser quer sei acho entendi duvida ajuda favor atendente humano pessoa
    alguem ninguem nada todos todo outro outra mesmo mesma certeza perfeito otimo legal show top pix cartao
    dinheiro endereco rua avenida numero cep cpf rg telefone email whatsapp mensagem audio foto documento
    filho filha mae pai esposa marido irma irmao avo neto neta crianca bebe senhor senhora dr dra doutor
    doutora clinica medico medica convenio plano unimed particular valor preco quanto quando onde como
    qual quais porque pq horas hora meio meia tardinha cancela remarca confirma pagar pago obg vc q pra pro
    tb td blz hj dps ai entao olha hum ah eita nossa urgente emergencia dor febre teste""".split()
)
_INTRO_PATTERNS = [
    ("meu", "nome", "e"),
    ("o", "meu", "nome", "e"),
    ("nome", "e"),
    ("me", "chamo"),
    ("eu", "me", "chamo"),
    ("chamo", "me"),
    ("eu", "sou", "o"),
    ("eu", "sou", "a"),
    ("sou", "o"),
    ("sou", "a"),
    ("eu", "sou"),
    ("sou",),
    ("aqui", "e", "o"),
    ("aqui", "e", "a"),
    ("aqui", "e"),
    ("quem", "fala", "e"),
    ("fala", "o"),
    ("fala", "a"),
    ("e", "para", "o"),
    ("e", "para", "a"),
    ("e", "para"),
    ("para", "o", "paciente"),
    ("para", "a", "paciente"),
    ("nome", "dela", "e"),
    ("nome", "dele", "e"),
    ("nome", "do", "paciente", "e"),
    ("nome", "da", "paciente", "e"),
    ("paciente",),
    ("nome",),
    ("em", "nome", "de"),
    ("e", "a"),
    ("e", "o"),
]
_SINGLE_WORD_ABBREVIATIONS = {key: value for key, value in _ABBREVIATIONS.items() if " " not in value}
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*|\d+|[^\w\s]", re.UNICODE)


def _title(word: str) -> str:
    if _fold(word) in _PARTICLES:
        return word.lower()
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def _collect_name(words: list[tuple[str, str]], start: int, *, minimum: int) -> str | None:
    picked: list[str] = []
    index = start
    while index < len(words) and len(picked) < 6:
        original, folded = words[index]
        if not original[:1].isalpha():
            break
        if folded in _PARTICLES:
            if not picked:
                return None
            picked.append(original)
        elif (
            folded in _NOT_NAME_WORDS
            or folded in _VOCAB_SET
            or len(folded) < 2
            or _fold(_correct(folded)) in _VOCAB_SET
        ):
            break
        else:
            picked.append(original)
        index += 1
    while picked and _fold(picked[-1]) in _PARTICLES:
        picked.pop()
    real = [word for word in picked if _fold(word) not in _PARTICLES]
    if len(real) < minimum or len(real) > 5:
        return None
    return " ".join(_title(word) for word in picked)


def extract_person_name(text: str) -> str | None:
    """A person's name given in `text` ("meu nome é Maria da Silva", "é pra Joana Prado", "sou o
    Carlos", or a bare answer of 2-5 name words such as "maria souza"), title-cased; None otherwise."""
    words = [(w, _SINGLE_WORD_ABBREVIATIONS.get(_fold(w), _fold(w))) for w in _WORD_RE.findall(text[:500])]
    if not words:
        return None
    folded = [f for _, f in words]
    for pattern in _INTRO_PATTERNS:
        size = len(pattern)
        for index in range(len(folded) - size + 1):
            if tuple(folded[index : index + size]) == pattern:
                after = index + size
                while after < len(words) and words[after][0] in (":", "-"):
                    after += 1
                name = _collect_name(words, after, minimum=1)
                if name:
                    return name
    content = [w for w in words if w[0][:1].isalnum()]
    trailing_ok = all(not w[0][:1].isalnum() for w in words[len(content) :]) if content else False
    if content and trailing_ok and words[: len(content)] == content and 2 <= len(content) <= 6:
        name = _collect_name(content, 0, minimum=2)
        if name and len(name.split()) == len(content):
            return name
    return None


# --- choosing among offered options -----------------------------------------------------------

_ORDINALS = {
    key: int(value)
    for key, value in (
        pair.split("=")
        for pair in """
    primeiro=0 primeira=0 segundo=1 segunda=1 terceiro=2 terceira=2 quarto=3 quarta=3 quinto=4 quinta=4
    sexto=5 sexta=5 setimo=6 setima=6 oitavo=7 oitava=7
""".split()
    )
}
_ORDINAL_RE = re.compile(
    r"\b(?P<pre>(?:a|o|na|no|de|da|do|para|ate|nesta|essa|esta|proxima|pela|pelo)\s+)?"
    r"(?P<word>primeir[oa]|segund[oa]|terceir[oa]|quart[oa]|quint[oa]|sext[oa]|setim[oa]|oitav[oa]"
    r"|penultim[oa]|ultim[oa]|(?P<num>\d{1,2})\s*(?:o|a))\b"
    r"(?P<post>\s+(?:opcao|alternativa|op|horario|data|vaga|feira|que\s+vem|da\s+semana))?"
)
_OPTION_NUMBER_RE = re.compile(r"(?<![\d/:.-])(?P<n>\d{1,2})(?![\d/:.-])(?!\s*(?:h|hs|hrs|horas?|e\s+meia|e\s+\d)\b)")
_NOT_OPTION_NUMBER_BEFORE_RE = re.compile(
    r"\b(?:as|das|pelas|dia|dias|ate|apos|umas|depois\s+das|antes\s+das|partir\s+das|para\s+as|tipo)\s*$"
)
_ANY_OPTION_RE = re.compile(r"^(?:(?:pode\s+ser\s+)?qualquer\s+(?:um|uma|horario|opcao|deles|delas)?|tanto\s+faz)\b")
_NONE_OPTION_RE = re.compile(r"\b(?:nenhum|nenhuma|nenhum\s+deles|outro|outra|outros|outras)\b")
_FEMININE_AMBIGUOUS = {"segunda": 0, "quarta": 2, "quinta": 3, "sexta": 4}


def _option_features(option: datetime | str) -> tuple[date | None, tuple[int, int] | None, int | None, dtime | None]:
    """(date, (day, month), weekday, time) of one offered option."""
    if isinstance(option, datetime):
        return (
            option.date(),
            (option.day, option.month),
            option.weekday(),
            option.time().replace(second=0, microsecond=0),
        )
    if isinstance(option, date):
        return option, (option.day, option.month), option.weekday(), None
    canon = _canon(str(option))
    day_month = None
    numeric = _NUMERIC_DATE_RE.search(canon)
    if numeric:
        d, m = (numeric.group(1), numeric.group(2)) if numeric.group(1) else (numeric.group(4), numeric.group(5))
        day_month = (int(d), int(m))
    weekday = None
    found_weekday = re.search(r"\b(segunda|terca|quarta|quinta|sexta|sabado|domingo|ter)\b", canon)
    if found_weekday:
        weekday = _WEEKDAYS[found_weekday.group(1)]
    clock = re.search(r"(?<![\d/])(\d{1,2})\s*(?::|h)\s*(\d{2})?", canon)
    value = None
    if clock and int(clock.group(1)) <= 23 and int(clock.group(2) or 0) <= 59:
        value = dtime(int(clock.group(1)), int(clock.group(2) or 0))
    return None, day_month, weekday, value


def _period_of(value: dtime) -> str:
    return _MORNING if value.hour < 12 else _AFTERNOON if value.hour < 18 else _EVENING


def choose_option(text: str, options: list[datetime | str], *, today: date | None = None) -> int | None:
    """Which of the numbered `options` (0-based) the patient picked; None when none or ambiguous.

    Understands numbers ("2", "opção 2", "a 2"), ordinals ("o segundo", "a segunda opção", "2ª",
    "último"), weekdays ("o de terça"), times ("o das 15h", "15:30", "as 9", "3 da tarde"),
    dates ("dia 27", "27/11", and with `today` also "amanhã", "sexta que vem"), periods ("o da
    manhã") and, for text options, the option's name ("retorno"). "qualquer um"/"tanto faz" picks
    the first. "segunda"/"quarta"/"quinta"/"sexta" are ordinals with an article or "opção"
    ("a segunda", "segunda opção") and weekdays with "feira" or a preposition ("na segunda", "o de
    segunda"); bare, they name the weekday when exactly one datetime option falls on it, else the
    ordinal (and None when several options fall on it).
    """
    count = len(options)
    if not count:
        return None
    canon = _canon(text).strip(" ,?")
    if not canon:
        return None
    if _ANY_OPTION_RE.match(canon):
        # "qualquer um" picks the first; "qualquer dia da semana que vem" is a new request.
        when = parse_when(text, today=today or date.today())  # noqa: DTZ011 - only the presence matters
        if when is None or not (when.first_day or when.period or when.time):
            return 0
        return None
    if _NONE_OPTION_RE.search(canon) and not re.search(r"\b(?:o|a)\s+outr[oa]\b", canon):
        return None
    features = [_option_features(option) for option in options]
    if all(isinstance(option, str) and not re.search(r"\d", option) for option in options):
        named = match_name(text, [str(option) for option in options])
        if named is not None:
            return [str(option) for option in options].index(named)

    ordinal: int | None = None
    weekdays: set[int] = set()
    for match in _ORDINAL_RE.finditer(canon):
        word, pre, post = match.group("word"), (match.group("pre") or "").strip(), (match.group("post") or "").strip()
        if match.group("num"):
            index = int(match.group("num")) - 1
        elif word.startswith("penultim"):
            index = count - 2
        elif word.startswith("ultim"):
            index = count - 1
        else:
            index = _ORDINALS[word]
        if word in _FEMININE_AMBIGUOUS:
            weekday = _FEMININE_AMBIGUOUS[word]
            if post in ("opcao", "alternativa", "op", "horario", "data", "vaga"):
                ordinal = index
            elif post in ("feira", "que vem", "da semana") or pre not in ("", "a"):
                weekdays.add(weekday)
            elif pre == "a" and index < count:
                ordinal = index
            elif pre == "a":
                weekdays.add(weekday)
            elif any(f[2] is not None for f in features):
                # Dated options read "sex 27/11": a bare "sexta" is the weekday, even when no option
                # falls on it ("quero marcar sexta" is a new request, never the sixth option).
                weekdays.add(weekday)
            else:
                ordinal = index
        else:
            ordinal = index
    for match in re.finditer(r"\b(terca|sabado|domingo|ter(?=\s+feira))\b", canon):
        weekdays.add(_WEEKDAYS[match.group(1)])
    times, rest = _scan_times(canon)
    if ordinal is None:
        numbers = {
            int(match.group("n"))
            for match in _OPTION_NUMBER_RE.finditer(rest)
            if not _NOT_OPTION_NUMBER_BEFORE_RE.search(_before(rest, match.start()))
        }
        if len(numbers) == 1 and 1 <= next(iter(numbers)) <= count:
            ordinal = next(iter(numbers)) - 1
    if ordinal is not None and not 0 <= ordinal < count:
        return None

    candidates = set(range(count))
    filtered = False
    if weekdays:
        candidates &= {i for i, f in enumerate(features) if f[2] in weekdays}
        filtered = True
    exact = [item[2] for item in times.exact]
    bare = re.fullmatch(r"(?:(?:o|a|as|das)\s+)?(\d{1,2})", canon)
    if not exact and ordinal is None and bare and 0 <= int(bare.group(1)) <= 23:
        exact = [_hour(int(bare.group(1)), 0, None)]
    if exact:
        candidates &= _match_time(
            exact[0], features, minute_said=":" in canon or bool(re.search(r"\d\s*h\s*\d", canon))
        )
        filtered = True
    if times.not_before or times.not_after:
        candidates &= {
            i
            for i, f in enumerate(features)
            if f[3] is not None
            and (times.not_before is None or f[3] >= times.not_before)
            and (times.not_after is None or f[3] <= times.not_after)
        }
        filtered = True
    if len(times.periods or ()) == 1 and not exact:
        period = next(iter(times.periods))
        candidates &= {i for i, f in enumerate(features) if f[3] is not None and _period_of(f[3]) == period}
        filtered = True
    day_filter = _day_filter(rest, features, today)
    if day_filter is not None:
        candidates &= day_filter
        filtered = True
    if ordinal is not None:
        if filtered and ordinal not in candidates:
            return None
        return ordinal
    if filtered and len(candidates) == 1:
        return next(iter(candidates))
    return None


def _match_time(value: dtime, features, *, minute_said: bool) -> set[int]:
    alternatives = [value]
    if value.hour >= 12:
        alternatives.append(value.replace(hour=value.hour - 12))
    else:
        alternatives.append(value.replace(hour=value.hour + 12))
    for alternative in alternatives:
        exact = {i for i, f in enumerate(features) if f[3] == alternative}
        if exact:
            return exact
        if not minute_said and alternative.minute == 0:
            same_hour = {i for i, f in enumerate(features) if f[3] is not None and f[3].hour == alternative.hour}
            if same_hour:
                return same_hour
    return set()


def _day_filter(rest: str, features, today: date | None) -> set[int] | None:
    if today is not None:
        mentions, _, _ = _scan_days(rest, today)
        mentions = [m for m in mentions if m.weekday is None]  # weekdays are matched by weekday above
        if mentions:
            first, last = min(m.first for m in mentions), max(m.last for m in mentions)
            return {
                i
                for i, f in enumerate(features)
                if (f[0] is not None and first <= f[0] <= last)
                or (
                    f[0] is None and f[1] is not None and any(first <= d <= last for d in _dates_for(f[1], first, last))
                )
            }
        return None
    numeric = _NUMERIC_DATE_RE.search(rest)
    if numeric:
        d, m = (numeric.group(1), numeric.group(2)) if numeric.group(1) else (numeric.group(4), numeric.group(5))
        return {i for i, f in enumerate(features) if f[1] == (int(d), int(m))}
    day = re.search(r"\bdia\s+(\d{1,2})\b", rest)
    if day:
        return {i for i, f in enumerate(features) if f[1] is not None and f[1][0] == int(day.group(1))}
    return None


def _dates_for(day_month: tuple[int, int], first: date, last: date) -> list[date]:
    out = []
    for year in range(first.year, last.year + 1):
        try:
            out.append(date(year, day_month[1], day_month[0]))
        except ValueError:
            continue
    return out


_RELATIVES = (
    r"filh[oa]s?|marido|esposa|esposo|mae|pai|avo|vo|vovo|neto|neta|sobrinh[oa]|irma|irmao|namorad[oa]|noiv[oa]|"
    r"companheir[oa]|sogr[oa]|entead[oa]|cunhad[oa]|prim[oa]|tia|tio|amig[oa]|afilhad[oa]|bebe|crianca"
)
_FOR_SOMEONE_ELSE_RE = re.compile(
    rf"\b(?:pra|pro|para|p)\s+(?:o\s+|a\s+)?(?:(?:meu|minha|um|uma)\s+)(?:{_RELATIVES})\b"
)
_FOR_MYSELF_RE = re.compile(r"\b(?:pra|para)\s+mim\b")


def for_someone_else(text: str) -> bool:
    """Is the patient booking for a child or relative ("é pro meu filho", "para minha mãe")?"""
    canon = plain(text[:2000]) if text else ""
    return bool(_FOR_SOMEONE_ELSE_RE.search(canon)) and not _FOR_MYSELF_RE.search(canon)


def for_myself(text: str) -> bool:
    """ "Quero marcar outra pra mim": this time the patient is the WhatsApp contact."""
    return bool(text) and bool(_FOR_MYSELF_RE.search(plain(text[:2000])))

"""Checks on every text before it goes to a patient: never empty, never `{{`, never raw tool
syntax, and at most WhatsApp's 4,096 characters per message (split at sentence boundaries)."""

from __future__ import annotations

import re

MAX_CHARS = 4096
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def text_clean(text: str) -> str:
    text = (text or "").replace("{{", "{ {").replace("}}", "} }").strip()
    return text


def text_split(text: str, *, limit: int = MAX_CHARS) -> list[str]:
    """Split into messages of at most `limit` characters, at sentence ends where possible."""
    text = text_clean(text)
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        joined = f"{current} {piece}".strip() if current else piece
        if len(joined) <= limit:
            current = joined
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, limit: int):
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > limit:  # a sentence longer than a message: cut at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            yield sentence[:cut].strip()
            sentence = sentence[cut:].strip()
        if sentence:
            yield sentence

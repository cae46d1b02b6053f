"""Logging helpers: phone numbers never reach the logs in full."""

from __future__ import annotations

import logging
import re

# E.164 / WhatsApp ids (10-15 digits, optional @suffix) and Brazilian formatted numbers
# such as "+55 (11) 98765-4321": keep the last four digits.
_PHONE = re.compile(r"(?<![\w+])(?:\+?\d{10,15}(?:@[\w.]+)?|(?:\+?\d{2}\s*)?\(\d{2}\)\s*\d{4,5}[-\s]?\d{4})(?![\w])")


# Webhook URL tokens are secrets: only their first characters may be logged.
_URL_TOKEN = re.compile(r"(/webhook/whaticket/)([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{28,}")


def mask_url_tokens(text: str) -> str:
    return _URL_TOKEN.sub(r"\1\2***", text)


def mask_phone(text: str) -> str:
    def repl(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0).split("@", 1)[0])
        if len(digits) < 10:
            return match.group(0)
        return f"***{digits[-4:]}"

    return _PHONE.sub(repl, text)


def mask_sensitive(text: str) -> str:
    return mask_phone(mask_url_tokens(text))


class MaskPhoneNumbersFilter(logging.Filter):
    """Masks phone numbers and webhook URL tokens in every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_sensitive(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True

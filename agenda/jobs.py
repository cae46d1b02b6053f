"""RQ entry points of the agenda (thin)."""

from agenda.reminders import reminders_send_due


def send_due_reminders() -> int:
    return reminders_send_due()

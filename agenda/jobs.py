"""RQ entry points of the agenda (thin)."""

from agenda.reminders import reminders_send_due


def send_due_reminders() -> int:
    return reminders_send_due()


def process_calcom_delivery(delivery_id: int) -> str:
    from agenda.calcom_webhooks import delivery_process

    return delivery_process(delivery_id=delivery_id)


def reconcile_calcom() -> dict:
    from agenda.calcom_webhooks import calcom_reconcile

    return calcom_reconcile()

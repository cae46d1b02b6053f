"""RQ entry points of the message pipeline (thin: they call services)."""

from conversations import services


def process_conversation(conversation_id: int, message_id: int) -> str:
    return services.conversation_process(conversation_id=conversation_id, trigger_message_id=message_id)


def send_message(message_id: int) -> str:
    return services.message_send(message_id=message_id)


def sweep_inbox() -> dict:
    return services.inbox_sweep()


def return_idle_handoffs() -> int:
    return services.idle_handoffs_return()

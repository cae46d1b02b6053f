from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversas"

    def ready(self):
        from secretaria import periodic

        periodic.register("sweep_inbox", job="conversations.jobs.sweep_inbox")
        periodic.register("return_idle_handoffs", job="conversations.jobs.return_idle_handoffs")

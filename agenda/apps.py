from django.apps import AppConfig


class AgendaConfig(AppConfig):
    name = "agenda"
    verbose_name = "Agenda"

    def ready(self):
        from secretaria import periodic

        periodic.register("send_due_reminders", job="agenda.jobs.send_due_reminders")

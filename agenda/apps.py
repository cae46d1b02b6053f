from django.apps import AppConfig


class AgendaConfig(AppConfig):
    name = "agenda"
    verbose_name = "Agenda"

    def ready(self):
        from secretaria import periodic

        periodic.register("send_due_reminders", job="agenda.jobs.send_due_reminders")
        # Webhooks can be lost: every 15 minutes Cal.com's bookings of the coming weeks win.
        periodic.register("reconcile_calcom", job="agenda.jobs.reconcile_calcom", every_minutes=15)

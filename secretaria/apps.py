from django.apps import AppConfig


class SecretariaConfig(AppConfig):
    name = "secretaria"
    verbose_name = "Secretária Virtual"

    def ready(self):
        from secretaria import periodic

        # Expired painel sessions, once a day in every clinic's schema and in public.
        periodic.register("clear_sessions", job="secretaria.jobs.clear_expired_sessions", every_minutes=24 * 60)
        periodic.register(
            "clear_sessions_public",
            job="secretaria.jobs.clear_expired_sessions",
            every_minutes=24 * 60,
            per_tenant=False,
        )

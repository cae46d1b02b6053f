"""Jobs used by tests of the queue glue (importable by a real RQ worker process)."""

from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from secretaria import metrics


def record_context(token: str) -> str:
    """Write a row in the current schema naming the schema and time zone the job ran in."""
    name = f"job:{token}:{connection.schema_name}:{timezone.get_current_timezone_name()}"
    Group.objects.create(name=name[:150])
    metrics.JOBS.labels(tenant=connection.schema_name, task="record_context_marker", outcome="ok").inc()
    return name

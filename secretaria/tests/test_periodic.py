"""The periodic runner enqueues due work once per tick, however many runners there are."""

import subprocess
import sys
import time

import pytest

from secretaria import periodic
from secretaria.queue import get_queue
from secretaria.testing.processes import BASE_DIR, product_env


@pytest.fixture
def probe_task():
    periodic.register("probe", job="secretaria.testing.jobs.record_context", every_minutes=5)
    yield
    periodic.unregister("probe")


def _probe_jobs():
    return [job for job in get_queue().jobs if job.args[1] == "secretaria.testing.jobs.record_context"]


@pytest.mark.django_db
def test_a_tick_is_enqueued_once_per_clinic_even_with_two_runners(clinics, probe_task):
    get_queue().empty()
    tick = 1_000_000  # a multiple of 5: due
    periodic.run_tick(tick)
    periodic.run_tick(tick)  # the second runner finds the tick claimed
    schemas = sorted(job.args[0] for job in _probe_jobs())
    assert schemas == ["alfa", "beta"]
    periodic.run_tick(tick + 1)  # not due
    assert len(_probe_jobs()) == 2
    get_queue().empty()


@pytest.mark.django_db
def test_inactive_clinics_get_no_periodic_work(clinics, probe_task):
    get_queue().empty()
    clinics.beta.is_active = False
    clinics.beta.save(update_fields=["is_active"])
    periodic.run_tick(2_000_000)
    assert [job.args[0] for job in _probe_jobs()] == ["alfa"]
    get_queue().empty()


def test_builtin_tasks_are_registered():
    names = {task.name for task in periodic.registered()}
    assert {"clear_sessions", "clear_sessions_public"} <= names


@pytest.mark.integration
def test_two_runner_processes_enqueue_each_job_once(clinics, committed):
    queue = get_queue()
    queue.empty()
    env = product_env()
    tick = int(time.time() // 60) + 1000  # a minute no other test has claimed
    runs = [
        subprocess.run(
            [sys.executable, "manage.py", "run_periodic", "--once", "--force", "--tick", str(tick)],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs
    outputs = sorted(run.stdout.strip() for run in runs)
    tasks = periodic.registered()
    expected = sum(2 if task.per_tenant else 1 for task in tasks)  # two active clinics
    assert outputs == ["0 jobs enqueued", f"{expected} jobs enqueued"]
    described = sorted(job.description for job in queue.jobs)
    assert len(described) == expected == len(set(described))
    assert "secretaria.jobs.clear_expired_sessions [public]" in described
    assert "conversations.jobs.sweep_inbox [alfa]" in described
    assert "conversations.jobs.sweep_inbox [beta]" in described
    queue.empty()


@pytest.mark.django_db
def test_the_runner_touches_its_heartbeat_file_after_each_tick(settings, tmp_path, monkeypatch):
    beat = tmp_path / "periodic.heartbeat"
    settings.PERIODIC_HEARTBEAT_FILE = str(beat)
    monkeypatch.setattr(periodic, "run_tick", lambda tick: 0)
    periodic.run_forever(stop=beat.exists)  # returns once the first tick has beaten
    assert time.time() - beat.stat().st_mtime < 5


@pytest.mark.django_db
def test_a_failed_tick_does_not_beat(settings, tmp_path, monkeypatch):
    beat = tmp_path / "periodic.heartbeat"
    settings.PERIODIC_HEARTBEAT_FILE = str(beat)
    calls = []

    def failing_tick(tick):
        calls.append(tick)
        raise RuntimeError("redis down")

    monkeypatch.setattr(periodic, "run_tick", failing_tick)
    periodic.run_forever(stop=lambda: len(calls) >= 1)
    assert not beat.exists()

"""`/metrics` merges every gunicorn worker's counters and labels them by resolved clinic."""

import re

import pytest
import requests

from secretaria.testing.processes import gunicorn

pytestmark = pytest.mark.integration


def _sample(text, name, **labels):
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_counters_of_two_gunicorn_workers_are_merged(clinics, committed, tmp_path):
    folder = tmp_path / "prom"
    with gunicorn(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as base:
        for _ in range(40):
            # a new connection each time, so both workers take requests
            assert requests.get(
                f"{base}/api/clinic", headers={"Host": "alfa.localhost", "Connection": "close"}, timeout=5
            ).ok
        for _ in range(3):
            response = requests.get(
                f"{base}/api/clinic",
                headers={"Host": "localhost", "X-Company-Domain": "BETA.localhost", "Connection": "close"},
                timeout=5,
            )
            assert response.json()["slug"] == "beta"
        requests.get(f"{base}/api/clinic", headers={"Host": "localhost", "X-Company-Domain": 'evil"}'}, timeout=5)
        scraped = requests.get(f"{base}/metrics", headers={"Host": "localhost"}, timeout=5).text
        on_clinic_host = requests.get(f"{base}/metrics", headers={"Host": "alfa.localhost"}, timeout=5)

    writers = {path.stem.rsplit("_", 1)[1] for path in folder.glob("counter_*.db")}
    assert len(writers) == 2, "both workers should have served requests"
    assert _sample(scraped, "secretaria_http_requests_total", tenant="alfa") == 40.0
    assert _sample(scraped, "secretaria_http_requests_total", tenant="beta") == 3.0
    assert "evil" not in scraped
    assert on_clinic_host.status_code == 404

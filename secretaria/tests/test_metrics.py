"""`/metrics` merges every gunicorn worker's counters and labels them by resolved clinic."""

import pytest
import requests

from secretaria.testing.processes import gunicorn
from secretaria.testing.scrape import sample_value

pytestmark = pytest.mark.integration


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
    assert sample_value(scraped, "secretaria_http_requests_total", tenant="alfa") == 40.0
    assert sample_value(scraped, "secretaria_http_requests_total", tenant="beta") == 3.0
    assert "evil" not in scraped
    assert on_clinic_host.status_code == 404

"""Reading one sample out of a Prometheus text exposition (what a scrape returns)."""

import re


def sample_value(text: str, name: str, **labels) -> float | None:
    """The value of `name{labels}` (labels exactly as given), or None when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else None

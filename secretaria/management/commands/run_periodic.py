"""`manage.py run_periodic`: the one periodic runner (safe to run twice)."""

import signal
import time

from django.core.management.base import BaseCommand

from secretaria import periodic


class Command(BaseCommand):
    help = "Every minute, enqueue due work (sweeper, reminders, follow-ups...). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run the current minute's tick and exit")
        parser.add_argument("--force", action="store_true", help="with --once: run every task, due or not")
        parser.add_argument("--tick", type=int, help="with --once: the minute (since the epoch) to run; default now")

    def handle(self, *args, **options):
        if options["once"]:
            tick = options["tick"] if options["tick"] is not None else int(time.time() // 60)
            count = periodic.run_tick(tick, force=options["force"])
            self.stdout.write(f"{count} jobs enqueued")
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        periodic.run_forever(stop=lambda: bool(stopping))

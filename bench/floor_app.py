"""The floor of any durable webhook intake: check the HMAC, insert the raw body into a
PostgreSQL table, push its id to Redis. No framework. Served by the same gunicorn config."""

import hashlib
import hmac
import os
import time

import psycopg
import redis

SECRET = os.environ["FLOOR_SECRET"].encode()
_db = None
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


def _conn():
    global _db
    if _db is None or _db.closed:
        _db = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _db


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    timestamp = environ.get("HTTP_X_TIMESTAMP", "")
    given = environ.get("HTTP_X_SIGNATURE", "")
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected) or abs(time.time() - float(timestamp or 0)) > 300:
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"detail": "bad signature"}']
    row = _conn().execute("INSERT INTO floor_inbox (body) VALUES (%s) RETURNING id", (body.decode(),)).fetchone()
    _redis.lpush("floor:queue", row[0])
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [b'{"queued": true}']

"""A fake Whaticket backend on 127.0.0.1, speaking the wire contract (contracts/whaticket.md §6).

Used by tests, benchmarks and the demo: the product's real client talks to it over HTTP.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from secretaria.testing.http_fake import LocalHTTPFake


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def form(self) -> tuple[dict, list[str]] | None:
        """(fields, file names) of a multipart/form-data body, or None."""
        content_type = self.headers.get("Content-Type") or self.headers.get("content-type") or ""
        if not content_type.startswith("multipart/form-data"):
            return None
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + self.body
        )
        fields, files = {}, []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            if filename:
                if name == "medias":
                    files.append(filename)
            elif name:
                fields[name] = part.get_content().strip() if part.get_content_maintype() == "text" else ""
        return fields, files


@dataclass
class Fault:
    """One programmed failure, consumed by the next matching request."""

    route: str  # "send", "login", "ticket_message"
    status: int = 500
    body: str | None = '{"error": "Internal server error"}'
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeWhaticket(LocalHTTPFake):
    def __init__(self, *, flavour: str = "saas", api_token: str = "token-da-conexao-abc123"):  # noqa: S107 - a fake
        self.flavour = flavour  # community, saas, ticketz
        self.api_token = api_token
        self.users = {"robo@clinica.test": "senha-do-robo"}
        self.token_lifetime = 900
        self.jwt_secret = "fake-jwt-secret"
        self.invalid_numbers: set[str] = set()
        self.tickets: dict[int, dict] = {}
        self.requests: list[Recorded] = []
        self._sent: list[dict] = []
        self.faults: list[Fault] = []
        self.logins = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    # --- what tests read -------------------------------------------------------------------------
    @property
    def sent(self) -> list[dict]:
        """Accepted sends, as {"number", "body", "route"} in arrival order."""
        with self._lock:
            return [dict(item) for item in self._sent]

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait for requests still being answered (a slow fault outlives the client's timeout)."""
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.02)

    def reset(self) -> None:
        self.wait_idle()
        with self._lock:
            self.requests.clear()
            self._sent.clear()
            self.faults.clear()
            self.logins = 0

    def add_fault(self, route: str, times: int = 1, **kwargs) -> None:
        with self._lock:
            self.faults.extend(Fault(route=route, **kwargs) for _ in range(times))

    def revoke_tokens(self) -> None:
        """Every JWT issued so far becomes invalid (403 on use)."""
        self.jwt_secret = self.jwt_secret + "x"

    # --- JWT -----------------------------------------------------------------------------------------
    def _issue(self, user_id: int) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"id": user_id, "profile": "user", "companyId": 1, "exp": int(time.time() + self.token_lifetime)}
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self.jwt_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def _jwt_valid(self, token: str) -> bool:
        try:
            header, payload, signature = token.split(".")
        except ValueError:
            return False
        expected = _b64(hmac.new(self.jwt_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return False
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims["exp"] > time.time()

    # --- dispatch ------------------------------------------------------------------------------------
    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.route == route:
                    return self.faults.pop(index)
        return None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self._in_flight += 1
        try:
            self._dispatch(handler, method)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        record = Recorded(method, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(record)
        route, params = self._route(method, parts.path)
        if route is None:
            return self._reply(handler, 404, {"error": "ERR_NOT_FOUND"})
        fault = self._take_fault(route)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None:
                return self._reply(handler, fault.status, fault.body, fault.content_type, fault.headers)
        getattr(self, f"_route_{route}")(handler, record, params, parse_qs(parts.query))

    @staticmethod
    def _route(method: str, path: str):
        if method == "POST" and path == "/api/messages/send":
            return "send", {}
        if method == "POST" and path == "/auth/login":
            return "login", {}
        if method == "POST" and path == "/auth/refresh_token":
            return "refresh", {}
        match = re.fullmatch(r"/messages/(\d+)", path)
        if method == "POST" and match:
            return "ticket_message", {"ticket_id": int(match.group(1))}
        match = re.fullmatch(r"/tickets/(\d+)", path)
        if match and method in ("GET", "PUT"):
            return f"ticket_{method.lower()}", {"ticket_id": int(match.group(1))}
        if method == "GET" and path == "/tickets":
            return "ticket_search", {}
        return None, {}

    @staticmethod
    def _reply(handler, status: int, body, content_type: str = "application/json", headers: dict | None = None):
        payload = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _bearer(self, record: Recorded) -> str | None:
        auth = record.headers.get("Authorization") or record.headers.get("authorization")
        if not auth:
            return None
        return auth.removeprefix("Bearer ").strip()

    # --- routes --------------------------------------------------------------------------------------
    def _route_send(self, handler, record, params, query):
        token = self._bearer(record)
        if token is None:
            return self._reply(handler, 401, {"error": "ERR_SESSION_EXPIRED"})
        if token != self.api_token:
            if self.flavour == "ticketz":
                return self._reply(handler, 401, {"error": "Acesso não permitido"})
            return self._reply(handler, 403, {"error": "Invalid token. We'll try to assign a new one on next request"})
        form = record.form()
        media: list[str] = []
        if form is not None:
            data, media = form
        else:
            data = record.json
        if not isinstance(data, dict) or not isinstance(data.get("number"), str):
            return self._reply(handler, 500, {"error": "Internal server error"})
        number = data["number"].replace("-", "", 1).replace(" ", "", 1)
        if not number.isdigit():
            return self._reply(handler, 400, {"error": "Invalid number format. Only numbers is allowed."})
        if number in self.invalid_numbers:
            error = "ERR_CHECK_NUMBER" if self.flavour == "saas" else "ERR_WAPP_INVALID_CONTACT"
            return self._reply(handler, 400, {"error": error})
        with self._lock:
            sent = {"number": number, "body": data.get("body", ""), "route": "send"}
            if media:
                sent["medias"] = media
            self._sent.append(sent)
        if self.flavour == "community":
            return self._reply(handler, 200, b"")
        if self.flavour == "ticketz":
            return self._reply(handler, 200, {"mensagem": "Message added to queue"})
        return self._reply(handler, 200, {"status": "SUCCESS"})

    def _route_login(self, handler, record, params, query):
        data = record.json or {}
        if self.users.get(data.get("email")) != data.get("password"):
            return self._reply(handler, 401, {"error": "ERR_INVALID_CREDENTIALS"})
        with self._lock:
            self.logins += 1
        token = self._issue(3)
        user = {"id": 3, "name": "Robô", "email": data["email"], "profile": "user", "queues": [], "companyId": 1}
        return self._reply(
            handler, 200, {"token": token, "user": user}, headers={"Set-Cookie": "jrt=refresh-token; HttpOnly"}
        )

    def _route_refresh(self, handler, record, params, query):
        if "jrt=" not in (record.headers.get("Cookie") or ""):
            return self._reply(handler, 401, {"error": "ERR_SESSION_EXPIRED"})
        return self._reply(handler, 200, {"token": self._issue(3), "user": {"id": 3}})

    def _jwt_guard(self, handler, record) -> bool:
        token = self._bearer(record)
        if token is None:
            self._reply(handler, 401, {"error": "ERR_SESSION_EXPIRED"})
            return False
        if not self._jwt_valid(token):
            self._reply(handler, 403, {"error": "Invalid token. We'll try to assign a new one on next request"})
            return False
        return True

    def _route_ticket_message(self, handler, record, params, query):
        if not self._jwt_guard(handler, record):
            return None
        ticket = self.tickets.get(params["ticket_id"])
        if ticket is None:
            return self._reply(handler, 404, {"error": "ERR_NO_TICKET_FOUND"})
        with self._lock:
            self._sent.append(
                {"number": ticket["contact"]["number"], "body": (record.json or {}).get("body", ""), "route": "ticket"}
            )
        return self._reply(handler, 200, b"")

    def _route_ticket_get(self, handler, record, params, query):
        if not self._jwt_guard(handler, record):
            return None
        ticket = self.tickets.get(params["ticket_id"])
        if ticket is None:
            return self._reply(handler, 404, {"error": "ERR_NO_TICKET_FOUND"})
        return self._reply(handler, 200, ticket)

    def _route_ticket_put(self, handler, record, params, query):
        if not self._jwt_guard(handler, record):
            return None
        ticket = self.tickets.setdefault(params["ticket_id"], {"id": params["ticket_id"], "contact": {"number": ""}})
        ticket.update(record.json or {})
        return self._reply(handler, 200, ticket)

    def _route_ticket_search(self, handler, record, params, query):
        if not self._jwt_guard(handler, record):
            return None
        wanted = (query.get("searchParam") or [""])[0]
        found = [t for t in self.tickets.values() if wanted and wanted in t["contact"].get("number", "")]
        return self._reply(handler, 200, {"tickets": found, "count": len(found), "hasMore": False})

    def add_ticket(self, ticket_id: int, *, number: str, status: str = "pending", user_id: int | None = None):
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "status": status,
            "userId": user_id,
            "contact": {"id": ticket_id, "name": "Paciente", "number": number},
        }


def main() -> None:
    """Run the fake alone (for `make run` demos): python -m secretaria.testing.fake_whaticket."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="A fake Whaticket backend on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--flavour", default="saas", choices=["saas", "community", "ticketz"])
    args = parser.parse_args()
    fake = FakeWhaticket(flavour=args.flavour)
    if args.port:
        fake.port = args.port
    fake.start()
    print(f"WHATSAPP_API_URL={fake.url}")
    print(f"WHATSAPP_BEARER_TOKEN={fake.api_token}")
    print("Messages received are printed below (Ctrl-C stops).", flush=True)
    seen = 0
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    while not stop:
        sent = fake.sent
        for item in sent[seen:]:
            print(f"-> {item['number']}: {item['body']}", flush=True)
        seen = len(sent)
        time.sleep(0.3)
    fake.stop()


if __name__ == "__main__":
    main()

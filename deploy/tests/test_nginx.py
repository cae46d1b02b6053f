"""deploy/nginx/secretaria.conf: `nginx -t` accepts it (self-signed certificates in place of
Let's Encrypt's), and a real nginx running it redirects to HTTPS, hides /metrics, caps
bodies at 256 KB and hands the app the client's address and scheme."""

import datetime
import http.client
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secretaria.testing.processes import free_port
from secretaria.testing.tools import require_tool

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SITE = BASE_DIR / "deploy" / "nginx" / "secretaria.conf"
PUBLIC = "api.osmardev.online"
CLINIC = "acme.osmardev.online"


def _self_signed(folder: Path, *names: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _prepare(tmp_path: Path, *, http_port: int, https_port: int, upstream_port: int) -> Path:
    """A prefix folder with a minimal nginx.conf around a copy of the site, its certificate
    paths pointing at self-signed ones, its ports at free ones, IPv4 only."""
    site = SITE.read_text()
    live = re.findall(r"/etc/letsencrypt/live/([^/]+)/", site)
    assert set(live) == {PUBLIC, "osmardev.online"}
    for name in set(live):
        _self_signed(tmp_path / "certs" / name, name, f"*.{name}")
        site = site.replace(f"/etc/letsencrypt/live/{name}/", f"{tmp_path}/certs/{name}/")
    site = re.sub(r"^\s*listen \[::\]:.*$", "", site, flags=re.M)
    site = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", site)
    site = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", site)
    assert "server 127.0.0.1:8080;" in site
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    (tmp_path / "secretaria.conf").write_text(site)
    for name in ("logs", "tmp"):
        (tmp_path / name).mkdir()
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp_path}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as nobody, who cannot enter pytest's private tmp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"""{user}daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp_paths}
    include {tmp_path}/secretaria.conf;
}}
"""
    )
    return tmp_path


def test_nginx_accepts_the_site(tmp_path):
    nginx = require_tool("nginx", "nginx")
    prefix = _prepare(tmp_path, http_port=free_port(), https_port=free_port(), upstream_port=free_port())
    result = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_site_keeps_the_settings_the_deploy_relies_on():
    site = SITE.read_text()
    assert site.count("client_max_body_size 256k;") == 2
    for header in ("Host $host", "X-Real-IP $remote_addr", "X-Forwarded-For", "X-Forwarded-Proto $scheme"):
        assert site.count(f"proxy_set_header {header}") == 2, header
    assert site.count("proxy_read_timeout") == 2


class _Upstream(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.seen: list[dict] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append({"path": self.path, **{key.lower(): value for key, value in self.headers.items()}})
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


class _TLS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the SNI of a real host name."""

    def __init__(self, port: int, server_name: str):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, context=context, timeout=5)
        self.server_name = server_name

    def connect(self):
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.server_name)


def _https(port, host, method="GET", path="/", body=None, headers=None):
    connection = _TLS(port, host)
    connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture
def running_nginx(tmp_path):
    nginx = require_tool("nginx", "nginx")
    upstream = _Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    prefix = _prepare(tmp_path, http_port=http_port, https_port=https_port, upstream_port=upstream.server_port)
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
    yield http_port, https_port, upstream
    proc.terminate()
    proc.wait(timeout=10)
    upstream.shutdown()


def test_http_redirects_to_https(running_nginx):
    http_port, _, upstream = running_nginx
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
    connection.request("GET", "/painel/?x=1", headers={"Host": CLINIC})
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{CLINIC}/painel/?x=1"
    assert upstream.seen == []


def test_the_app_gets_the_host_the_client_address_and_the_scheme(running_nginx):
    _, https_port, upstream = running_nginx
    response = _https(https_port, PUBLIC, path="/api/clinic", headers={"X-Real-IP": "6.6.6.6"})
    assert response.status == 200
    (seen,) = upstream.seen
    assert seen["host"] == PUBLIC
    assert seen["x-real-ip"] == "127.0.0.1"  # a client's own X-Real-IP is overwritten
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"


def test_clinics_are_proxied_with_their_own_host(running_nginx):
    _, https_port, upstream = running_nginx
    assert _https(https_port, CLINIC, path="/painel/").status == 200
    assert upstream.seen[-1]["host"] == CLINIC


@pytest.mark.parametrize("host", [PUBLIC, CLINIC])
def test_metrics_are_not_served_in_public(running_nginx, host):
    _, https_port, upstream = running_nginx
    assert _https(https_port, host, path="/metrics").status == 404
    assert upstream.seen == []


def test_bodies_over_256_kb_are_refused(running_nginx):
    _, https_port, upstream = running_nginx
    assert _https(https_port, PUBLIC, "POST", "/webhook/whaticket", body=b"x" * (200 * 1024)).status == 200
    assert _https(https_port, PUBLIC, "POST", "/webhook/whaticket", body=b"x" * (300 * 1024)).status == 413
    assert len(upstream.seen) == 1


def test_unknown_hosts_never_reach_the_app(running_nginx):
    http_port, https_port, upstream = running_nginx
    with pytest.raises(ssl.SSLError):
        _https(https_port, "app")
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
    connection.request("GET", "/metrics", headers={"Host": "app:8080"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        connection.getresponse()
    assert upstream.seen == []

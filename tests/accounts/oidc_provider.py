"""A small OpenID Connect provider on 127.0.0.1 over real HTTPS, shaped like Auth0.

social-core's Auth0 backend builds every URL as ``https://{DOMAIN}/...`` and checks the
id_token issuer against ``https://{DOMAIN}/``, so this server speaks TLS with a
self-signed certificate for the IP address 127.0.0.1, made at start-up with
``cryptography``; tests point ``requests`` at ``ca_path`` to trust it.

Endpoints (the ones Auth0 serves for the authorization-code flow):

- ``GET /authorize``: checks the client, the response type and the ``openid`` scope, then
  signs in whoever the test chose with ``sign_in_as`` and redirects to ``redirect_uri``
  with a one-time ``code`` and the caller's ``state``.
- ``POST /oauth/token``: checks the client id and secret and the code (issued here, unused,
  for the same redirect URI), then returns an access token and an RS256 id_token.
- ``GET /.well-known/jwks.json``: the public signing key.
- ``GET /userinfo``: the claims for a bearer access token (Auth0 serves it; the backend
  reads the id_token instead, which ``hits`` lets tests confirm).

``sign_in_as(..., tamper=...)`` makes the next id_token wrong in one way (signed by a key
the JWKS does not publish, for another audience, from another issuer, or expired) so tests
can prove such tokens are refused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

Tamper = Literal["bad_signature", "wrong_audience", "wrong_issuer", "expired"]


@dataclass(frozen=True)
class Identity:
    """The person signed in at the provider, as the id_token will describe them."""

    sub: str
    email: str | None
    email_verified: bool
    name: str = ""


@dataclass
class _Grant:
    identity: Identity
    client_id: str
    redirect_uri: str
    tamper: Tamper | None


@dataclass
class _State:
    """What the request handler threads share with the test; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_identity: Identity | None = None
    next_tamper: Tamper | None = None
    codes: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, Identity] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a certificate for IP 127.0.0.1 and its key; the certificate is its own CA."""
    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rekindle test OIDC provider")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        # Hostname checking matches an IP only against an IP-address SAN, never the CN.
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        # A trust anchor as well as the server's own certificate, so OpenSSL accepts it as
        # the whole chain when it is the only entry in the CA bundle.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "oidc-provider.pem"
    key_path = directory / "oidc-provider.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class LocalOIDCProvider:
    """Start with ``start()``, stop with ``stop()``; ``domain`` is what Auth0 calls DOMAIN."""

    def __init__(self, *, client_id: str, client_secret: str, directory: Path) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.directory = directory
        self.signing_key = _rsa_key()
        # Same key id as the real key, different key: the backend must reject the signature
        # rather than merely failing to find a key.
        self.foreign_key = _rsa_key()
        self.kid = secrets.token_hex(8)
        self.state = _State()
        self.ca_path: Path | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalOIDCProvider:
        cert_path, key_path = _self_signed_certificate(self.directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        self.ca_path = cert_path
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the provider first"
        return self._httpd.server_address[1]

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"https://{self.domain}/"

    # --- what tests control and inspect ------------------------------------------------

    def sign_in_as(
        self,
        *,
        sub: str,
        email: str | None,
        email_verified: bool,
        name: str = "",
        tamper: Tamper | None = None,
    ) -> Identity:
        """The next /authorize request is approved for this person."""
        identity = Identity(sub=sub, email=email, email_verified=email_verified, name=name)
        with self.state.lock:
            self.state.next_identity = identity
            self.state.next_tamper = tamper
        return identity

    @property
    def hits(self) -> list[str]:
        """Paths requested so far, in order."""
        with self.state.lock:
            return list(self.state.hits)

    @property
    def token_requests(self) -> list[dict[str, str]]:
        """Form bodies POSTed to /oauth/token, in order."""
        with self.state.lock:
            return [dict(body) for body in self.state.token_requests]

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, identity: Identity, *, client_id: str, tamper: Tamper | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "sub": identity.sub,
            "iat": now,
            "exp": now + 600,
            "email_verified": identity.email_verified,
            "name": identity.name,
            "nickname": (identity.email or identity.sub).split("@")[0],
        }
        if identity.email is not None:
            claims["email"] = identity.email
        key: rsa.RSAPrivateKey = self.signing_key
        if tamper == "bad_signature":
            key = self.foreign_key
        elif tamper == "wrong_audience":
            claims["aud"] = "some-other-application"
        elif tamper == "wrong_issuer":
            claims["iss"] = "https://attacker.example/"
        elif tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def _handler_for(provider: LocalOIDCProvider) -> type[BaseHTTPRequestHandler]:
    state = provider.state

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send_json(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(raw)

        def _record(self) -> str:
            path = urlsplit(self.path).path
            with state.lock:
                state.hits.append(path)
            return path

        def do_GET(self) -> None:
            path = self._record()
            if path == "/authorize":
                self._authorize()
            elif path == "/.well-known/jwks.json":
                self._send_json(200, provider.jwks())
            elif path == "/userinfo":
                self._userinfo()
            else:
                self._send_json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = self._record()
            if path == "/oauth/token":
                self._token()
            else:
                self._send_json(404, {"error": "not_found"})

        def _authorize(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if query.get("client_id") != provider.client_id:
                self._send_json(400, {"error": "invalid_client"})
                return
            if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
                self._send_json(400, {"error": "invalid_request"})
                return
            redirect_uri = query.get("redirect_uri", "")
            with state.lock:
                identity, tamper = state.next_identity, state.next_tamper
                state.next_identity = state.next_tamper = None
                if identity is None:
                    self._send_json(400, {"error": "login_required"})
                    return
                code = secrets.token_urlsafe(24)
                state.codes[code] = _Grant(identity, provider.client_id, redirect_uri, tamper)
            params = {"code": code}
            if "state" in query:
                params["state"] = query["state"]
            parts = urlsplit(redirect_uri)
            location = urlunsplit(
                parts._replace(query="&".join(filter(None, [parts.query, urlencode(params)])))
            )
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _token(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            with state.lock:
                state.token_requests.append(form)
            if form.get("client_id") != provider.client_id or not secrets.compare_digest(
                form.get("client_secret", ""), provider.client_secret
            ):
                self._send_json(401, {"error": "invalid_client", "error_description": "Unknown client."})
                return
            if form.get("grant_type") != "authorization_code":
                self._send_json(400, {"error": "unsupported_grant_type"})
                return
            with state.lock:
                # A code is good for one exchange only, as RFC 6749 §4.1.2 requires.
                grant = state.codes.pop(form.get("code", ""), None)
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                self._send_json(
                    403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
                )
                return
            access_token = secrets.token_urlsafe(32)
            with state.lock:
                state.access_tokens[access_token] = grant.identity
            id_token = provider.id_token(grant.identity, client_id=grant.client_id, tamper=grant.tamper)
            self._send_json(
                200,
                {
                    "access_token": access_token,
                    "id_token": id_token,
                    "token_type": "Bearer",
                    "expires_in": 86400,
                    "scope": "openid profile email",
                },
            )

        def _userinfo(self) -> None:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            with state.lock:
                identity = state.access_tokens.get(token) if scheme.lower() == "bearer" else None
            if identity is None:
                self._send_json(401, {"error": "invalid_token"})
                return
            claims: dict[str, Any] = {"sub": identity.sub, "email_verified": identity.email_verified}
            if identity.email is not None:
                claims["email"] = identity.email
            if identity.name:
                claims["name"] = identity.name
            self._send_json(200, claims)

    return Handler

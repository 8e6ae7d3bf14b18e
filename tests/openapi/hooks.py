"""Schemathesis hooks for Lineup: every generated request is authenticated the way a real client
authenticates, so the property-based run reaches the signed routes' handlers instead of stopping
at 401.

- `/v1/redemptions` carries the staff bearer token (`LINEUP_STAFF_TOKEN`).
- Every other request is signed with an Ed25519 identity made here and registered before the run
  (`POST /v1/identities`), over the exact bytes sent: the server's origin, method, path and
  query, timestamp and the SHA-256 of the body (see crates/protocol/src/auth.rs and
  docs/protocol.md).
- The identity takes a place in the demo campaign first and, once admitted, claims its voucher,
  so its ticket routes answer 200 and a claim replays a real voucher, which the OpenAPI links
  take to the box office (200, then 409). Giving a place back is signed by a second identity
  with a place of its own, or the first would void its voucher before any test redeems it.
- Voucher codes are generated with their real check symbol (format `voucher-code`): a regular
  expression cannot say that, and a code with a wrong check symbol is rightly refused (400).
- `{"auto_issue": true}` on `POST .../tickets` needs an `Idempotency-Key` header: a rule across
  body and header that OpenAPI cannot state. A request that opts in without one gets a fresh
  key (one that is sent is left as generated, well-formed or not).

Loaded by tests/openapi/run.sh through SCHEMATHESIS_HOOKS.
"""

import base64
import hashlib
import os
import time
import uuid

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import strategies as st

BASE_URL = os.environ["LINEUP_URL"].rstrip("/")
STAFF_TOKEN = os.environ["LINEUP_STAFF_TOKEN"]
CAMPAIGN = os.environ.get("LINEUP_CAMPAIGN", "demo")


def origin_of(url: str) -> str:
    """`scheme://host[:port]`, lower case, the scheme's default port left out (docs/protocol.md)."""
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].lower()
    default = {"http": ":80", "https": ":443"}[scheme]
    if authority.endswith(default):
        authority = authority[: -len(default)]
    return f"{scheme}://{authority}"


ORIGIN = origin_of(BASE_URL)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Identity:
    """An Ed25519 key pair, as a device makes one."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public = b64url(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def authorization(self, method: str, path_and_query: str, body: bytes) -> str:
        ts = int(time.time())
        digest = b64url(hashlib.sha256(body).digest())
        canonical = f"lineup-request-v2\n{ORIGIN}\n{method.upper()}\n{path_and_query}\n{ts}\n{digest}".encode()
        sig = b64url(self.key.sign(canonical))
        return f"Lineup key={self.public}, ts={ts}, sig={sig}"


IDENTITY = Identity()
GIVER = Identity()


def body_bytes(body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")


class LineupAuth(requests.auth.AuthBase):
    """Signs the prepared request: its body and URL are final here, so the signature covers
    exactly what goes on the wire."""

    def __init__(self, identity: Identity = IDENTITY) -> None:
        self.identity = identity

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if r.path_url.split("?", 1)[0] == "/v1/redemptions":
            r.headers["Authorization"] = f"Bearer {STAFF_TOKEN}"
        else:
            path = r.path_url.split("?", 1)[0]
            who = GIVER if path.endswith("/tickets/me/return") else self.identity
            r.headers["Authorization"] = who.authorization(r.method, r.path_url, body_bytes(r.body))
        return r


def signed(method: str, path: str, json_body=None, headers=None, who: Identity = IDENTITY) -> requests.Response:
    req = requests.Request(method, BASE_URL + path, json=json_body, headers=headers, auth=LineupAuth(who))
    with requests.Session() as s:
        return s.send(req.prepare(), timeout=10)


def signed_with_key(method: str, path: str, json_body) -> requests.Response:
    return signed(method, path, json_body, {"Idempotency-Key": str(uuid.uuid4())})


def join(who: Identity) -> dict:
    contact = f"openapi-{uuid.uuid4().hex[:12]}@example.com"
    r = signed("POST", "/v1/identities", {"contact": contact, "consent": True}, who=who)
    if r.status_code not in (200, 201):
        raise SystemExit(f"hooks.py: registering a test identity failed: {r.status_code} {r.text}")
    r = signed("POST", f"/v1/campaigns/{CAMPAIGN}/tickets", who=who)
    if r.status_code not in (200, 201):
        raise SystemExit(f"hooks.py: taking a place in {CAMPAIGN} failed: {r.status_code} {r.text}")
    return r.json()


def setup() -> None:
    join(GIVER)
    ticket = join(IDENTITY)
    deadline = time.monotonic() + 30
    while ticket["state"] != "admitted":
        if ticket["state"] not in ("pre_queue", "in_line") or time.monotonic() > deadline:
            raise SystemExit(f"hooks.py: the test identity was not admitted: {ticket}")
        time.sleep(min(ticket.get("check_at", {}).get("in_ms", 200), 2000) / 1000 + 0.05)
        ticket = signed("GET", f"/v1/campaigns/{CAMPAIGN}/tickets/me").json()
    r = signed_with_key("POST", f"/v1/campaigns/{CAMPAIGN}/claim", {"ticket_id": ticket["ticket_id"]})
    if r.status_code != 201:
        raise SystemExit(f"hooks.py: the test identity's claim failed: {r.status_code} {r.text}")


setup()


@schemathesis.auth(refresh_interval=None)
class Credentials:
    """Signs every case (see LineupAuth), except a negative case generated without an
    `Authorization` header: that one is meant to go unsigned (and be refused with 401)."""

    def get(self, case, ctx):
        return LineupAuth()

    def set(self, case, data, ctx):
        meta = case.meta
        negative = meta is not None and meta.generation.mode.is_negative
        if negative and not any(name.lower() == "authorization" for name in (case.headers or {})):
            return
        # How schemathesis's own requests-auth provider attaches one (`auth.set_from_requests`).
        case._auth = data

# The voucher code: 11 symbols and a weighted mod-31 check symbol (crates/protocol/src/code.rs).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def with_check(data: list[int]) -> str:
    total = sum((i + 2) * d for i, d in enumerate(data))
    symbols = "".join(ALPHABET[d] for d in data) + ALPHABET[(31 - total % 31) % 31]
    return f"{symbols[0:4]}-{symbols[4:8]}-{symbols[8:12]}"


schemathesis.openapi.format(
    "voucher-code",
    st.lists(st.integers(0, 30), min_size=11, max_size=11).map(with_check),
)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if (
        case.method.upper() == "POST"
        and case.operation.path == "/v1/campaigns/{id}/tickets"
        and isinstance(case.body, dict)
        and case.body.get("auto_issue") is True
        and not any(name.lower() == "idempotency-key" for name in (case.headers or {}))
    ):
        case.headers = {**(case.headers or {}), "Idempotency-Key": str(uuid.uuid4())}

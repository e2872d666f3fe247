"""Browser sessions for the dashboard: a signed, expiring, HttpOnly cookie and CSRF tokens.

A browser signs in once with an API key (form at /signin); the key itself never goes into the
cookie. The cookie holds the role, a fingerprint of the key (so removing the key from the
configuration ends its sessions at the next restart) and the session's CSRF token, signed with
`LEADSCORE_SESSION_SECRET` (itsdangerous, HMAC-SHA1 over a timestamped payload). Without a
configured secret every process draws a random one: sessions then end when the server restarts
and do not carry across workers, which is safe but inconvenient, so teams should set it.

The cookie grants only the dashboard pages: the /v1 API keeps its `X-API-Key` header and never
reads the cookie, so a viewer's browser session can never score.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from serve.security import Role

SESSION_COOKIE = "leadscore_session"
SIGNIN_CSRF_COOKIE = "leadscore_signin_csrf"
SESSION_SALT = "leadscore.dashboard.session"
SIGNIN_SALT = "leadscore.dashboard.signin"
# Roles allowed to open the dashboard; a scorer key is for machines (CRM, automation) only.
DASHBOARD_ROLES = frozenset({Role.VIEWER, Role.SALES, Role.ADMIN})
# A sign-in form older than this is refused: long enough to find the key, short enough that a
# token lifted from a page cannot be replayed for days.
SIGNIN_FORM_MAX_AGE_S = 1800


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its role and the token every form it posts must carry."""

    role: Role
    csrf: str
    key_fingerprint: str


def key_fingerprint(secret: bytes, key: bytes) -> str:
    """A keyed hash of an API key: identifies the key in the cookie without revealing it."""
    return hmac.new(secret, b"leadscore-key:" + key, hashlib.sha256).hexdigest()[:32]


class SessionSigner:
    """Creates and checks session and sign-in cookies with one secret and one lifetime."""

    def __init__(self, secret: bytes, max_age_s: int, keys: dict[bytes, Role]) -> None:
        self.secret = secret
        self.max_age_s = max_age_s
        self._sessions = URLSafeTimedSerializer(secret, salt=SESSION_SALT)
        self._signin = URLSafeTimedSerializer(secret, salt=SIGNIN_SALT)
        # Fingerprint -> role of every configured key: a session whose key was removed, or
        # whose key's role changed, no longer opens anything.
        self._known = {key_fingerprint(secret, k): role for k, role in keys.items()}
        # Signed-out sessions (by their CSRF token, unique per session) until they would have
        # expired anyway: a copy of the cookie taken before sign-out opens nothing afterwards.
        # Per process: another worker, or this one after a restart, does not know them.
        self._revoked: dict[str, float] = {}

    def issue(self, key: bytes, role: Role) -> tuple[str, Session]:
        """The cookie value for a browser that signed in with `key` (already checked)."""
        session = Session(role, secrets.token_urlsafe(24), key_fingerprint(self.secret, key))
        value = self._sessions.dumps(
            {"r": str(role), "c": session.csrf, "k": session.key_fingerprint}
        )
        return value, session

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when absent, forged, expired or revoked."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=self.max_age_s)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict):
            return None
        fingerprint, role_name, csrf = data.get("k"), data.get("r"), data.get("c")
        if not (isinstance(fingerprint, str) and isinstance(csrf, str) and csrf):
            return None
        role = self._known.get(fingerprint)
        if role is None or str(role) != role_name or csrf in self._revoked:
            return None
        return Session(role=role, csrf=csrf, key_fingerprint=fingerprint)

    def revoke(self, session: Session) -> None:
        """Sign-out: this session opens nothing more in this process, even from a copy."""
        now = time.time()
        self._revoked = {t: until for t, until in self._revoked.items() if until > now}
        self._revoked[session.csrf] = now + self.max_age_s

    def signin_token(self) -> tuple[str, str]:
        """(cookie value, form token) for the sign-in form: double-submit CSRF before a session
        exists. The cookie is the signed token; the form carries the token itself."""
        token = secrets.token_urlsafe(24)
        return self._signin.dumps(token), token

    def signin_token_ok(self, cookie: str | None, form_token: str | None) -> bool:
        """True when the form's token is the one this server signed into the sign-in cookie."""
        if not cookie or not form_token:
            return False
        try:
            token = self._signin.loads(cookie, max_age=SIGNIN_FORM_MAX_AGE_S)
        except (SignatureExpired, BadSignature):
            return False
        return isinstance(token, str) and hmac.compare_digest(token, form_token)


def csrf_ok(session: Session, form_token: str | None) -> bool:
    """True when a posted form carries this session's CSRF token."""
    return bool(form_token) and hmac.compare_digest(session.csrf, str(form_token))

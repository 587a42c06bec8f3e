"""Who is coding. Never in the page address, so nobody becomes another coder by editing a URL:
a sign-in with an account or a name is a random token (db.sign_ins) kept in the server-side
session and in a cookie of the browser, so a reload or a new tab finds the coder again until
the token expires (`--sign-in-hours`, default a working day), they sign out, or their account
is disabled. Every page run asks the database who the token signs in, so a role granted or
removed, an account disabled, or accounts added after a one-person start apply at the coder's
next action. A forged, expired or revoked token signs nobody in.

Three ways in, the first that applies:
- Streamlit's OIDC login (an `[auth]` section in `.streamlit/secrets.toml`): the verified e-mail
  is the coder; `[au_annotator] allowed = ["ana@lab.org", "@lab.org"]` lists who may code
  (addresses, or whole domains after @) and `admins = [...]` who administers.
- Accounts (`au-annotator coder add NAME [--admin]`): name and password.
- Neither set up: one person on this computer types a name. This mode answers only a page
  reached as localhost; it is labelled as such, and that person administers.

Administrators may activate or roll back model versions and cancel others' jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from annotator.services import actions
from annotator.services.context import Services

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
SESSION_KEY = "identity"  # OIDC: the identity itself (Streamlit's own cookie keeps the login)
TOKEN_KEY = "sign_in_token"  # accounts and one-person mode: the token, checked every run
CURRENT_KEY = "signed_in_now"  # who this run of the page is for (set anew every run)
COOKIE = "au_annotator_sign_in"
# The cookie is written by the page (Streamlit gives the server no way to set one); the
# server reads it from the request that opened the page's connection (st.context.cookies).
_SET_COOKIE = """<script>
document.cookie = "{name}=" + {value} + "; expires=" + {expires} + "; path=/; SameSite=Strict" +
  (location.protocol === "https:" ? "; Secure" : "");
</script>"""


@dataclass(frozen=True)
class Identity:
    name: str
    admin: bool
    how: str  # "account", "OIDC", "name only"


def current_identity() -> Identity | None:
    """Who this run of the page signed in (identity_ui decided it at the top of the run)."""
    return st.session_state.get(CURRENT_KEY)


def identity_ui(services: Services, oidc: bool, hours: float) -> Identity | None:
    """The signed-in coder (asking them to sign in first); None until someone has."""
    if oidc:
        identity = _oidc_session(services)
    else:
        identity = _token_session(services, hours)
    st.session_state[CURRENT_KEY] = identity
    if identity is None:
        return None
    st.sidebar.text(f"Coding as {identity.name}" + (" (admin)" if identity.admin else ""))
    if identity.how == "name only":
        st.sidebar.caption("One-person mode on this computer: add accounts "
                           "(au-annotator coder add) to share the app.")
    st.sidebar.button("Sign out", on_click=_sign_out, args=(services, identity.how == "OIDC"))
    return identity


def _oidc_session(services: Services) -> Identity | None:
    identity = st.session_state.get(SESSION_KEY)
    if identity is None:
        identity = _oidc_identity(services)
        if identity is None:
            return None
        st.session_state[SESSION_KEY] = identity
        st.rerun()  # draw the coder's page afresh, without the sign-in form's elements
    return identity


def _token_session(services: Services, hours: float) -> Identity | None:
    """The coder of this page's sign-in token (the session's, else the browser's cookie), as
    the database has them now: a role changed since is the role of this run."""
    token = st.session_state.get(TOKEN_KEY) or _browser_token()
    found = actions.signed_in_by_token(services, token) if token else None
    if found is not None and found.how == "name only" and not _page_is_local():
        found = None
    if found is None:
        st.session_state.pop(TOKEN_KEY, None)
        _write_cookie("", datetime.fromtimestamp(0, UTC))  # the browser forgets what it kept
        accounts = actions.accounts_exist(services)
        signed = _account_form(services) if accounts else _name_form(services)
        if signed is None:
            return None
        st.session_state[TOKEN_KEY], _ = actions.start_sign_in(services, *signed, hours)
        st.rerun()  # draw the coder's page afresh, without the sign-in form's elements
    st.session_state[TOKEN_KEY] = token
    _write_cookie(token, found.expires_at)
    return Identity(found.name, found.admin, found.how)


def _browser_token() -> str | None:
    """The token the browser sent when it opened this page's connection, if any (Streamlit's
    test runner has no browser: what it answers there is not text)."""
    cookie = st.context.cookies.get(COOKIE)
    return cookie if isinstance(cookie, str) and cookie else None


def _write_cookie(value: str, expires: datetime) -> None:
    """The browser keeps the token until it expires (an empty value: forgets it)."""
    script = _SET_COOKIE.format(name=COOKIE, value=json.dumps(value),
                                expires=json.dumps(expires.strftime("%a, %d %b %Y %H:%M:%S GMT")))
    st.sidebar.html(script, unsafe_allow_javascript=True)  # the sidebar: no gap in the page


def _sign_out(services: Services, oidc: bool) -> None:
    st.session_state.pop(SESSION_KEY, None)
    token = st.session_state.pop(TOKEN_KEY, None) or _browser_token()
    if token:
        actions.end_sign_in(services, token)
    if oidc:
        st.logout()


def _oidc_identity(services: Services) -> Identity | None:
    if not st.user.is_logged_in:
        st.title("AU annotator")
        st.button("Log in", on_click=st.login, type="primary")
        return None
    email = str(st.user.get("email") or "")
    rules = st.secrets.get("au_annotator", {})
    if not email or not st.user.get("email_verified", False):
        st.error("Your sign-in provider did not confirm your e-mail address, so you cannot code "
                 "here.")
        return None
    if not _listed(email, rules.get("allowed", [])):
        st.error(f"{email} is not on this lab's list of coders; ask its administrator.")
        return None
    name = actions.register_coder(services, email)
    return Identity(name, _listed(email, rules.get("admins", [])), "OIDC")


def _listed(email: str, entries: list[str]) -> bool:
    email = email.lower()
    return any(email == entry.lower() or (entry.startswith("@") and
                                          email.endswith(entry.lower())) for entry in entries)


def _account_form(services: Services) -> tuple[str, str] | None:
    """(name, "account") once a right password is given."""
    st.title("AU annotator")
    with st.form("sign_in"):
        name = st.text_input("Coder name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            account = actions.sign_in(services, name, password)
            if account is not None:
                return account[0], "account"
            st.error("Name or password is wrong (or the account is disabled).")
    return None


def _name_form(services: Services) -> tuple[str, str] | None:
    """(name, "name only") once a name is typed on this computer."""
    st.title("AU annotator")
    if not _page_is_local():
        st.error("This app has no accounts, so it only opens on the computer it runs on. Its "
                 "administrator adds accounts with `au-annotator coder add NAME --admin`.")
        return None
    with st.form("coder"):
        typed = st.text_input("Your name (stored as the coder of your labels)")
        if st.form_submit_button("Start coding", type="primary") and typed.strip():
            return actions.register_coder(services, typed), "name only"
    st.caption("One-person mode on this computer. A lab sharing the app gives each coder an "
               "account (au-annotator coder add).")
    return None


def _page_is_local() -> bool:
    """The page was reached as localhost (no Host header: Streamlit's own test runner)."""
    host = (st.context.headers.get("Host") or "localhost").rsplit(":", 1)[0]
    return host in LOCAL_HOSTS or host == "::1"

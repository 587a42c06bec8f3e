"""Who is coding. The identity lives in the server-side session, never in the page address, so
nobody becomes another coder by editing a URL.

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

from dataclasses import dataclass

import streamlit as st

from annotator import actions

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
SESSION_KEY = "identity"


@dataclass(frozen=True)
class Identity:
    name: str
    admin: bool
    how: str  # "account", "OIDC", "name only"


def identity_ui(database_url: str, oidc: bool) -> Identity | None:
    """The signed-in coder (asking them to sign in first); None until someone has."""
    identity = st.session_state.get(SESSION_KEY)
    if identity is None:
        if oidc:
            identity = _oidc_identity(database_url)
        elif actions.accounts_exist(database_url):
            identity = _account_form(database_url)
        else:
            identity = _name_form(database_url)
        if identity is None:
            return None
        st.session_state[SESSION_KEY] = identity
        st.rerun()  # draw the coder's page afresh, without the sign-in form's elements
    st.sidebar.text(f"Coding as {identity.name}" + (" (admin)" if identity.admin else ""))
    if identity.how == "name only":
        st.sidebar.caption("One-person mode on this computer: add accounts "
                           "(au-annotator coder add) to share the app.")
    st.sidebar.button("Sign out", on_click=_sign_out, args=(identity.how == "OIDC",))
    return identity


def _sign_out(oidc: bool) -> None:
    st.session_state.pop(SESSION_KEY, None)
    if oidc:
        st.logout()


def _oidc_identity(database_url: str) -> Identity | None:
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
    name = actions.register_coder(database_url, email)
    return Identity(name, _listed(email, rules.get("admins", [])), "OIDC")


def _listed(email: str, entries: list[str]) -> bool:
    email = email.lower()
    return any(email == entry.lower() or (entry.startswith("@") and
                                          email.endswith(entry.lower())) for entry in entries)


def _account_form(database_url: str) -> Identity | None:
    st.title("AU annotator")
    with st.form("sign_in"):
        name = st.text_input("Coder name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            account = actions.sign_in(database_url, name, password)
            if account is not None:
                return Identity(account[0], account[1], "account")
            st.error("Name or password is wrong (or the account is disabled).")
    return None


def _name_form(database_url: str) -> Identity | None:
    st.title("AU annotator")
    if not _page_is_local():
        st.error("This app has no accounts, so it only opens on the computer it runs on. Its "
                 "administrator adds accounts with `au-annotator coder add NAME --admin`.")
        return None
    with st.form("coder"):
        typed = st.text_input("Your name (stored as the coder of your labels)")
        if st.form_submit_button("Start coding", type="primary") and typed.strip():
            return Identity(actions.register_coder(database_url, typed), True, "name only")
    st.caption("One-person mode on this computer. A lab sharing the app gives each coder an "
               "account (au-annotator coder add).")
    return None


def _page_is_local() -> bool:
    """The page was reached as localhost (no Host header: Streamlit's own test runner)."""
    host = (st.context.headers.get("Host") or "localhost").rsplit(":", 1)[0]
    return host in LOCAL_HOSTS or host == "::1"

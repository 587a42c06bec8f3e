"""The page's own keys: Ctrl+Z / Ctrl+Y (undo / redo stored corrections) and R (Review next).

Streamlit's button shortcuts fire Ctrl+… keys even while the typing focus is in a field (its
key filter lets every key with Ctrl through), so Ctrl+Z typed in *Frame* would undo a stored
correction instead of the typing. These keys are therefore ours: one listener, in the capture
phase (before Streamlit's), presses the button named for the key, and does nothing at all
while the focus is in a text or number field, a select, a slider or editable text, so the
browser's own undo acts on the field. R is here too because Streamlit keeps R (rerun) for
itself: this listener runs first and stops it.

Letter shortcuts of the label buttons (P, A, N, V, H) stay Streamlit's: it ignores plain
letters in fields. The player's keys (player.js) check fields the same way.
"""

from __future__ import annotations

import streamlit as st

KEYS_SCRIPT = """<script>
(function () {
  if (window.auPageKeys) return;
  window.auPageKeys = true;
  function typing(event) {
    var path = event.composedPath ? event.composedPath() : [event.target];
    return path.some(function (element) {
      if (!element || !element.tagName) return false;
      if (element.isContentEditable || element.getAttribute("role") === "slider") return true;
      if (/^(TEXTAREA|SELECT)$/.test(element.tagName)) return true;
      return element.tagName === "INPUT" &&
        ["radio", "checkbox", "button", "submit", "reset", "file"].indexOf(element.type) < 0;
    });
  }
  function buttonFor(event) {
    var key = event.key.toLowerCase();
    var command = event.ctrlKey || event.metaKey;
    if (event.altKey) return null;
    if (command && key === "z") return event.shiftKey ? "Redo" : "Undo";
    if (command && key === "y" && !event.shiftKey) return "Redo";
    if (!command && !event.shiftKey && key === "r") return "Review next";
    return null;
  }
  window.addEventListener("keydown", function (event) {
    var name = buttonFor(event);
    if (name === null || typing(event)) return;
    var button = Array.from(document.querySelectorAll("button")).find(function (b) {
      return b.innerText.trim() === name;
    });
    if (!button) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    button.click();
  }, true);
})();
</script>"""


def page_keys() -> None:
    """Ctrl+Z / Ctrl+Y / Ctrl+Shift+Z and R act on their buttons, never from inside a field."""
    st.html(KEYS_SCRIPT, unsafe_allow_javascript=True)

"""What the Streamlit page draws beyond plain widgets: settings and video sources, the coder's
player (and the files it is served), the AU timelines, and the panels below them.
`streamlit_app.py` lays out the page; the work behind every button is in annotator.services.actions
and annotator.jobs."""

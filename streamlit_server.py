"""The app's web server: the page (streamlit_app.py) and the player's files
(annotator.ui.video_route: the video with range requests, frame times, face landmarks) on one
server and port.

`au-annotator app` runs `streamlit run` on this file; Streamlit finds the `st.App` below and
serves it with every `--server.*` option as usual. It sits beside streamlit_app.py so both read
the same `.streamlit/` folder (config, OIDC secrets). `streamlit run streamlit_app.py` serves
the page alone, whose player then has no video to play.
"""

from pathlib import Path

import streamlit as st

from annotator.ui.video_route import routes

app = st.App(Path(__file__).with_name("streamlit_app.py"), routes=routes())

"""What the Streamlit app needs beyond widgets: settings, background processing, review actions
on the store, timeline figures and frame drawing. `streamlit_app.py` only lays out widgets."""

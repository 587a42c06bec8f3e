"""Importing this loads dlib's 68-point model (dlib_backend.shape_predictor): the corpus's
fork server imports it before it forks the workers, so they share the one copy it loaded."""

from annotator.processing.landmarks.dlib_backend import shape_predictor

shape_predictor()

"""Importing this reads the 68-point model (dlib_backend.shape_model): the corpus's fork server
imports it before it forks the workers, so they share the one copy it read."""

from annotator.processing.landmarks.dlib_backend import shape_model

shape_model()

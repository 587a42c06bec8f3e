"""The service layer: what a coder does, lab projects, reliability, subject choice, uploads.
Every service function takes the services object (`Services`: the store and what follows from
it), built once by the page's settings or the CLI command that runs."""

from annotator.services.context import Services

__all__ = ["Services"]

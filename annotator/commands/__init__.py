"""One module per `au-annotator` subcommand (see annotator/cli.py for the protocol)."""

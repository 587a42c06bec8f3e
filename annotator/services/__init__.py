"""The service layer: what a coder does, lab projects, reliability, subject choice, uploads."""

"""The seed AU network and everything that must match between training and inference."""

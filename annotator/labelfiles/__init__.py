"""Label files in and out: Aff-Wild2, ELAN, BORIS and OpenFace, one reader/writer per format."""

"""A video's way to its pre-fill: decode, landmarks, extract and cache, predict and store."""

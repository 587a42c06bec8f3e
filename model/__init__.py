"""The bottom layer: the seed AU network and everything that must match between training and
inference (features, post-processing, metrics, checkpoints), and the formats every layer shares
(model.formats). It imports neither annotator/ nor db/."""

"""The bottom layer: the seed AU network and everything that must match between training and
inference (features, post-processing, metrics, checkpoints), and what every layer shares
(model.au_sets, model.errors, model.files, model.affwild2_files). It imports neither annotator/
nor db/."""

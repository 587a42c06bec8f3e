"""Learning from corrections: in-video adaptation, fine-tuning and the model versions made."""

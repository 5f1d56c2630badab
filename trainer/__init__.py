"""AINDNet trainer: model and losses (trainer.model, trainer.losses), configuration (trainer.config).

Importing this package imports nothing; trainer.config needs no torch, the other modules do.
"""

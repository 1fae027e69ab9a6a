"""BentoML model services: one process owns each model; requests arrive in adaptive batches."""

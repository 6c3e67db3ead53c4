"""WearOn worker: the generation pipeline and the size-recommendation API."""

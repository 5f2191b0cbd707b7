"""The run's config: type and range checks, sizes taken from the data, composition
outside Hydra's command line."""

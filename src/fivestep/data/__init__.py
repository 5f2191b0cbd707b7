"""DataModules, one per file. Batches are slices of in-memory tensors."""

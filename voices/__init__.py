"""The voice library: metadata schema, names, the in-memory index, usage, archives."""

"""The outputs browser: an in-memory index of generated files, queries over it, retention."""

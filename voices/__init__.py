"""The voice library: metadata schema, names, its rows in the database, usage, archives."""

"""The outputs browser: generated files in storage, their rows in the database, retention."""

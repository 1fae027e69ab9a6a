"""Loading and running the Chatterbox networks, free of any per-request state."""

"""How the service processes live: the SIGTERM drain, background tasks on a cadence."""

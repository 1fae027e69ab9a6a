"""How the service processes start and stop."""

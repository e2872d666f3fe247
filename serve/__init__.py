"""leadscore serve."""

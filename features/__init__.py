"""leadscore features."""

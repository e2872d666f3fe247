"""leadscore pipeline."""

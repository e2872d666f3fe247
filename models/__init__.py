"""leadscore models."""

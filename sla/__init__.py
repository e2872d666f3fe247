"""leadscore sla."""

"""The simulated CRM world behind `leadscore simulate` (see pipeline/simulator.py)."""

"""Past one machine: validation, features and batch scoring on a Dask cluster.

The functions that run on the workers are the pandas path's own (features/triage.py triage,
features/snapshots.py `training_table`, scoring/score_file.py scoring), applied per partition:
row groups or CSV blocks for validation, lead_id hash partitions for features and scoring. One
implementation of every rule; this package only decides what runs where. The CLI (pipeline/)
drives it; nothing here imports pipeline/.
"""

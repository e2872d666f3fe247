"""The sales desk: owners, rep actions, the contact cadence, reassignment and the manager's
figures, as pure functions over DataFrames (owners.py, actions.py, worklist.py,
reassignment.py, manager.py), with the store reads and writes at the edge (service.py)."""

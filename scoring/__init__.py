"""The scoring core: a lead or a batch -> features -> probability -> decision -> reasons.

No HTTP here (tests/test_architecture.py): the service, the daily run and the cluster path all
score through it.
"""

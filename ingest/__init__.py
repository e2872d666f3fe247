"""Events as they happen: the Segment tracking spec parsed and checked (segment.py), the leads
they belong to (identity merge in store/events.py), re-scored on arrival with the champion
(rescore.py, worker.py) and handed over or flagged as returning through the outbox at once;
back-pressure instead of loss (pressure.py)."""

"""The daily hand-off loop as pure functions over DataFrames (no files, no database, no clock).

activity.py: what a lead did up to the run's cut-off, in the words a salesperson reads;
handoff.py: which leads are open, which became MQL since the last run, who came back, who waits;
recap.py: month-to-date against the agreement's targets and a projected month end;
render.py: the CSV / JSON / Markdown / HTML files a run writes.
One of three places called "daily", one job each: these pure functions; the `leadscore daily`
command that runs them with files, the store and delivery (pipeline/daily_cli.py, its steps in
pipeline/daily_steps.py and pipeline/daily_record.py); the same day's features and scores on a
Dask cluster (engine/daily_dask.py).
"""

"""Heads over many texts: a record of scores per text, their aggregates, and the executors.

- scores.py: every head's role scores, entropy and share on special tokens for one text, all
  heads of a layer at once (the batched form of roles.role_scores, equal to it);
- records.py: the per-text record, a pure function of (model, text);
- aggregate.py: the aggregates, a pure function of the records;
- texts.py: reading a corpus (plain text or JSONL) and the sample corpus;
- store.py: the records file (appended a whole line at a time, resumed, read back);
- local.py and dask.py: the records of many texts, in worker processes or on a Dask cluster.
"""

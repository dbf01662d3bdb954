"""Kaggle downloads: the official client imported safely (client.py), archives extracted safely (archive.py),
and the public `download` / `credentials_status` (download.py), exported from `pconv.data`."""

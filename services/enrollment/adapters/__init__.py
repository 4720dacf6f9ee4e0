"""What talks to the outside in enrollment's own way: the files of bulk uploads (CSV rows in,
per-row results out as NDJSON or CSV) and the HTTP request's caller and uploaded body."""

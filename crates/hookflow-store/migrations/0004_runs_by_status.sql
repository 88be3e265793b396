-- The runs list filtered by status, newest first (the web UI's and the API's `?status=`), as an
-- index range rather than a scan of every run.
CREATE INDEX runs_by_status ON runs (status, id);

-- punchr storage contract, version 4: what hole_punch_attempts.elapsed_time measures. The
-- column comment of 0001 says "seconds from opened to ended"; every client (ours, and the
-- original Go client's hole punch events) measures it from the punch's start, SYNC, and only an
-- attempt that never started from its opening (docs/OUTCOMES.md). The database's own comment
-- now says so, for whoever reads the schema rather than the export's data dictionary.
COMMENT ON COLUMN hole_punch_attempts.elapsed_time IS
  'seconds from started_at (opened_at when the attempt never started) to ended_at';

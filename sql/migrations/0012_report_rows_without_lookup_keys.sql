-- punchr storage contract, version 12: the rows of a report no longer check their peers,
-- addresses and client against those tables (docs/ARCHITECTURE.md, "Storing reports").
--
-- Version 11 kept the foreign keys from hole_punch_results, its address links, the attempts'
-- addresses and the latency measurements to peers, multi_addresses and clients. Each is
-- checked row by row, and each check locks the row it finds (FOR KEY SHARE): about 20 per
-- report, most of them on the same few rows (the relays' addresses and peers, the host), which
-- concurrent batches then share through multixacts. A CPU profile of PostgreSQL under the
-- ingest benchmark put 15 % of its time in those checks, and storing with them gone took a
-- fifth to a quarter less of its CPU per report (docs/benchmarks.md, "Server: fewer round
-- trips, less parsing").
--
-- Nothing is lost by it: only the server writes these rows, with ids it read or inserted in
-- the same transaction, or read from batches that committed before (KnownIds in
-- src/db/report-batch.ts), and rows of peers, multi_addresses and clients are never deleted
-- or renumbered. The foreign keys of the honeypot's tables, of the allocations and of the
-- clients themselves stay.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
    WHERE contype = 'f' AND conparentid = 0
      AND conrelid::regclass::text IN ('hole_punch_results', 'hole_punch_results_x_multi_addresses',
        'hole_punch_results_x_listen_multi_addresses', 'hole_punch_attempts_x_multi_addresses',
        'latency_measurements')
      AND confrelid::regclass::text IN ('peers', 'multi_addresses', 'clients')
    ORDER BY 1, 2
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
  END LOOP;
END
$$;

-- punchr storage contract, version 7: the relay hop budget is counted in the database.
-- The hop budget against address poisoning (src/db/relay-hops.ts), shared by every server
-- process on this database: relay addresses handed out per relay hop, counted in 10-second
-- buckets inside each allocation's transaction, so that replicas behind a load balancer
-- together hand out at most the budget per hop and minute (before, each process counted its
-- own in memory and N replicas allowed N times the budget). The server prunes buckets older
-- than two minutes.
CREATE TABLE relay_hop_handouts (
  hop_key    TEXT        NOT NULL,  -- the hop's IPv4 address, or its IPv6 /64 ('2001:db8::/64')
  bucket     TIMESTAMPTZ NOT NULL,  -- start of the 10-second bucket
  handed_out INTEGER     NOT NULL,  -- relay addresses at that hop handed out in the bucket
  PRIMARY KEY (hop_key, bucket)
);

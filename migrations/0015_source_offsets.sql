-- Where a Kafka receiver is in each partition it consumed: the highest offset whose records
-- are in a sealed segment, written in the transaction that records the segment. Together with
-- the offsets kept in the WAL records not sealed yet, it tells a restarted node exactly where
-- to resume, so a crash neither loses nor stores a message twice.
CREATE TABLE source_offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;

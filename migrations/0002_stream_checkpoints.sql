-- The processing frontier of each consumer group: every entry at or below last_done_id was written
-- or dead-lettered. If the group vanishes (NOGROUP), it is recreated at this id, so nothing still in
-- the stream is lost and what is re-read lands as duplicates.
CREATE TABLE stream_checkpoints (
  stream         text        NOT NULL,
  consumer_group text        NOT NULL,
  last_done_id   text        NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT stream_checkpoints_pkey PRIMARY KEY (stream, consumer_group)
);

-- Entries lost before they were processed (trimmed from the stream, or deleted while pending), for
-- the operator's audit; each row is also a log line and a metric increment.
CREATE TABLE stream_gaps (
  id             bigserial   PRIMARY KEY,
  stream         text        NOT NULL,
  consumer_group text        NOT NULL,
  kind           text        NOT NULL,
  first_id       text        NOT NULL,
  last_id        text        NOT NULL,
  entry_count    bigint,
  detected_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per GPS fix. (device_id, ts) is the identity of a position: writing it again is a no-op,
-- which is what makes at-least-once delivery from the stream land exactly once here.
CREATE TABLE positions (
  device_id   text             NOT NULL,
  ts          timestamptz      NOT NULL,
  lat         double precision NOT NULL,
  lon         double precision NOT NULL,
  altitude    double precision NOT NULL,
  angle       double precision NOT NULL,
  speed       double precision NOT NULL,
  satellites  smallint         NOT NULL,
  priority    smallint         NOT NULL,
  event_id    integer          NOT NULL,
  attributes  jsonb            NOT NULL DEFAULT '{}'::jsonb,
  stream_id   text             NOT NULL,
  received_at timestamptz,
  inserted_at timestamptz      NOT NULL DEFAULT now(),
  CONSTRAINT positions_pkey PRIMARY KEY (device_id, ts)
);

COMMENT ON TABLE positions IS 'GPS positions, exactly once per (device_id, ts); attributes keep 64-bit and byte values as {"$bigint"} / {"$bytes"}';
COMMENT ON COLUMN positions.stream_id IS 'Redis Stream entry id the row was written from';

/*
 * prometheus_remote_write: remote-write bodies as Prometheus sent them (uncompressed protobuf,
 * 1.0 WriteRequest or 2.0 io.prometheus.write.v2.Request), split by scrape target; the header
 * RW_PROTO_HEADER names which message a record holds.
 */

export const REMOTE_WRITE_TOPIC = 'prometheus_remote_write';

/** Header naming the protobuf message of a prometheus_remote_write record. */
export const RW_PROTO_HEADER = 'airdig.rw.proto';

import { Metric } from "effect"
import { recordHistogramMetric } from "./RecordHistogram.ts"

/** The processor's series. Names follow Prometheus conventions: `_total` counters, base units.
 * A labelled series is its own counter with fixed attributes rather than `Metric.withAttributes`
 * on a shared one: that puts the labels in the context at each update, and the registry key (a
 * sorted JSON string) is then rebuilt on every update of the hot path. */

const labelled = (name: string, description: string, attributes: Readonly<Record<string, string>>) =>
  Metric.counter(name, { description, incremental: true, attributes })

export const recordsRead = Metric.counter("telemetry_records_read_total", {
  description: "Stream entries read (new, re-read or claimed)",
  incremental: true,
})
const decodedDescription = "Entries decoded, by result"
export const decodedOk = labelled("telemetry_records_decoded_total", decodedDescription, { result: "ok" })
export const decodedError = labelled("telemetry_records_decoded_total", decodedDescription, { result: "error" })
const writtenDescription = "Records by write outcome"
export const writtenInserted = labelled("telemetry_records_written_total", writtenDescription, { status: "inserted" })
export const writtenDuplicate = labelled("telemetry_records_written_total", writtenDescription, { status: "duplicate" })
export const writtenFailed = labelled("telemetry_records_written_total", writtenDescription, { status: "failed" })
export const recordsAcked = Metric.counter("telemetry_records_acked_total", {
  description: "Entries acknowledged",
  incremental: true,
})
export const recordsDeadLettered = Metric.counter("telemetry_records_dead_lettered_total", {
  description: "Entries moved to the dead-letter stream",
  incremental: true,
})
export const recordsClaimed = Metric.counter("telemetry_records_claimed_total", {
  description: "Entries claimed from idle consumers",
  incremental: true,
})
export const claimedDeleted = Metric.counter("telemetry_claimed_deleted_total", {
  description: "Pending entries found deleted from the stream when claimed or re-read",
  incremental: true,
})
export const cursorLosses = Metric.counter("telemetry_cursor_lost_total", {
  description: "Times entries were trimmed from the stream before the group was given them",
  incremental: true,
})
export const cursorLostEntries = Metric.counter("telemetry_cursor_lost_entries_total", {
  description: "Entries known lost to trimming before processing (when Redis can count them)",
  incremental: true,
})
export const groupRecreated = Metric.counter("telemetry_group_recreated_total", {
  description: "Times the consumer group was missing and recreated from the checkpoint",
  incremental: true,
})
export const transientFailures = Metric.counter("telemetry_transient_failures_total", {
  description: "Transient failures retried with backoff, by dependency",
  incremental: true,
})
export const batchWriteSeconds = Metric.histogram("telemetry_batch_write_duration_seconds", {
  description: "Time to write one batch to PostgreSQL",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 14 }),
})
/** Observed per record through a RecordHistogram (BatchProcessor). */
export const endToEndSeconds = recordHistogramMetric("telemetry_end_to_end_latency_seconds", {
  description: "Now minus the stream id time, when a record is acknowledged",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 18 }),
})
export const groupLag = Metric.gauge("telemetry_consumer_group_lag", {
  description: "Entries not yet delivered to the group",
})
export const groupPending = Metric.gauge("telemetry_consumer_group_pending", {
  description: "Entries delivered but not acknowledged",
})
export const stateDevices = Metric.gauge("telemetry_state_devices", { description: "Devices held in memory" })
export const stateEvictions = Metric.counter("telemetry_state_evictions_total", {
  description: "Devices evicted from memory by the LRU bound",
  incremental: true,
})

/// When a log record happened, as the jobs place it: its own time, or the time the collector
/// observed it when the record has none (OTLP allows either to be 0).
enum LogTime {
    /// The `logs` expression of it, for the statements of the jobs that read logs.
    static let sql = "CASE WHEN time_ns > 0 THEN time_ns ELSE observed_time_ns END"
}

import PyFlareWire
import Synchronization

/// The spans open through the telemetry API, in memory until finished.
///
/// Nothing of an open span is written before it is finished: a crash loses open spans (the
/// client was told only that the span exists), never a finished one. Transitions live in
/// ``State``; this class adds the lock, the wall clock and id generation.
public final class TelemetrySpans: Sendable {
    public let configuration: TelemetryConfiguration
    private let state: Mutex<State>
    /// Unix nanoseconds; a parameter so tests can move time.
    package let now: @Sendable () -> UInt64

    public convenience init(configuration: TelemetryConfiguration) {
        self.init(configuration: configuration, now: TelemetryTime.now)
    }

    package init(configuration: TelemetryConfiguration, now: @escaping @Sendable () -> UInt64) {
        self.configuration = configuration
        self.now = now
        let timeout = configuration.spanTimeout.components
        state = Mutex(State(limits: State.Limits(
            maxOpenSpans: configuration.maxOpenSpans, maxOpenBytes: configuration.maxOpenBytes,
            timeout: UInt64(max(0, timeout.seconds)) * 1_000_000_000 + UInt64(max(0, timeout.attoseconds / 1_000_000_000)),
            rememberedFinished: configuration.maxOpenSpans)))
    }

    /// Starts a span now, with new ids (and a new trace unless `traceID` is given).
    package func start(name: String, traceID: TraceID?, parentSpanID: UInt64, tags: TelemetryTags) throws(TelemetryError) -> TelemetrySpan {
        let time = now()
        return try state.withLock { state throws(TelemetryError) in
            var spanID: UInt64
            repeat { spanID = UInt64.random(in: 1...UInt64.max) } while state.trace(of: spanID) != nil
            let span = TelemetrySpan(traceID: traceID ?? Self.newTraceID(), spanID: spanID, parentSpanID: parentSpanID,
                                     name: name, startTime: time, tags: tags)
            try state.start(span)
            return span
        }
    }

    package static func newTraceID() -> TraceID {
        TraceID(high: UInt64.random(in: 0...UInt64.max), low: UInt64.random(in: 1...UInt64.max))
    }

    /// The trace of span `id`, open or finished lately.
    package func trace(of id: UInt64) -> TraceID? { state.withLock { $0.trace(of: id) } }

    /// The root span this API made for `trace`, open or finished lately.
    package func root(of trace: TraceID) -> UInt64? { state.withLock { $0.root(of: trace) } }

    package func update(_ id: UInt64, _ change: (inout TelemetrySpan) throws(TelemetryError) -> Void) throws(TelemetryError) -> TelemetrySpan {
        let time = now()
        return try state.withLock { state throws(TelemetryError) in try state.update(id, now: time, change) }
    }

    package func beginFinish(_ id: UInt64, status: TelemetrySpan.Status, message: String, tags: TelemetryTags) throws(TelemetryError) -> TelemetrySpan {
        let time = now()
        return try state.withLock { state throws(TelemetryError) in
            try state.beginFinish(id, status: status, message: message, tags: tags, now: time)
        }
    }

    /// Spans idle for the timeout, taken to be written with status error.
    package func beginExpire() -> [TelemetrySpan] {
        let time = now()
        let message = "span timed out: no request for \(Self.seconds(configuration.spanTimeout)) s (telemetry.span_timeout_seconds) and never finished"
        return state.withLock { $0.beginExpire(now: time, message: message) }
    }

    /// Refuses new spans from now on and takes every open one to be written with status error.
    package func closeAll() -> [TelemetrySpan] {
        let time = now()
        return state.withLock { $0.closeAll(now: time, message: "the server shut down before the span was finished") }
    }

    package func endFinish(_ spans: [TelemetrySpan], written: Bool) {
        state.withLock { $0.endFinish(spans.map(\.spanID), written: written) }
    }

    package var openCount: Int { state.withLock { $0.openCount } }

    /// "300" or "1.5".
    package static func seconds(_ duration: Duration) -> String {
        let seconds = duration.inSeconds
        return seconds == seconds.rounded() ? Int64(checked: seconds).map(String.init) ?? String(seconds) : String(seconds)
    }
}

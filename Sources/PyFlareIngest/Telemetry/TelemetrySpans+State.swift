import PyFlareWire

extension TelemetrySpans {
    /// The open spans and their transitions, as a plain value: no clock, no I/O, so tests drive
    /// it with any times. ``TelemetrySpans`` keeps it behind a mutex.
    ///
    /// A span is open, then being finished (taken by one writer; requests on it get 409),
    /// then gone. A write that fails gives the span back, open as before, so nothing a client
    /// was told is kept can disappear. Ids finished lately are remembered, so a second finish
    /// gets 409, not 404.
    struct State {
        struct Limits {
            var maxOpenSpans: Int
            var maxOpenBytes: Int
            /// Nanoseconds without a request after which a span is closed.
            var timeout: UInt64
            var maxTags = TelemetryConfiguration.maxTagsPerSpan
            var maxEvents = TelemetryConfiguration.maxEventsPerSpan
            /// Finished span ids remembered for 409s and as parents.
            var rememberedFinished: Int
        }

        let limits: Limits
        private(set) var spans: [UInt64: TelemetrySpan] = [:]
        /// Spans a writer has taken; still counted against the limits until written.
        private(set) var finishing: Set<UInt64> = []
        /// ``TelemetrySpan/footprint`` of every span held.
        private(set) var bytes = 0
        /// Shutting down: no new spans.
        private(set) var closed = false
        /// Finished span ids, oldest first (a ring of ``Limits/rememberedFinished``), with their traces.
        private var finishedOrder: [UInt64] = []
        private var finishedNext = 0
        private var finished: [UInt64: TraceID] = [:]
        /// The root span (no parent) of each trace with a span open or finished lately.
        private var roots: [TraceID: UInt64] = [:]

        init(limits: Limits) {
            self.limits = limits
        }

        var openCount: Int { spans.count }

        /// Adds `span`, or refuses it: 503 after ``closeAll(now:)``, 429 at a limit, 409 for a taken id.
        mutating func start(_ span: TelemetrySpan) throws(TelemetryError) {
            guard !closed else { throw TelemetryError.shuttingDown }
            guard spans.count < limits.maxOpenSpans else {
                throw TelemetryError(.busy, "\(limits.maxOpenSpans) spans are open, the most allowed (telemetry.max_open_spans); finish some first",
                                     retryAfterSeconds: 1)
            }
            let size = span.footprint
            guard bytes + size <= limits.maxOpenBytes else { throw tooMuchMemory() }
            guard spans[span.spanID] == nil, finished[span.spanID] == nil else {
                throw TelemetryError(.conflict, "span id \(Hex.string(span.spanID)) is taken")
            }
            spans[span.spanID] = span
            bytes += size
            if span.parentSpanID == 0, roots[span.traceID] == nil { roots[span.traceID] = span.spanID }
        }

        /// The trace of span `id`, open or finished lately.
        func trace(of id: UInt64) -> TraceID? {
            spans[id]?.traceID ?? finished[id]
        }

        /// The root span this API made for `trace`, open or finished lately.
        func root(of trace: TraceID) -> UInt64? { roots[trace] }

        /// Applies `change` to open span `id` and marks it active at `now`; returns the changed span.
        ///
        /// - Parameter budget: whether the memory budget applies (a finish always may go through,
        ///   since it frees the span's memory).
        /// - Throws: what ``openSpan(_:)`` throws; 409 when the span would pass its tag or log
        ///   limit; 429 when the open spans would pass their memory budget; `change`'s error.
        mutating func update(_ id: UInt64, now: UInt64, budget: Bool = true,
                             _ change: (inout TelemetrySpan) throws(TelemetryError) -> Void) throws(TelemetryError) -> TelemetrySpan {
            var span = try openSpan(id)
            let before = span.footprint
            try change(&span)
            guard span.tags.count <= limits.maxTags else {
                throw TelemetryError(.limitReached, "span \(Hex.string(id)) would have \(span.tags.count) tags; at most \(limits.maxTags)")
            }
            guard span.events.count <= limits.maxEvents else {
                throw TelemetryError(.limitReached, "span \(Hex.string(id)) already has \(limits.maxEvents) logs, the most allowed")
            }
            let after = span.footprint
            guard !budget || after <= before || bytes - before + after <= limits.maxOpenBytes else { throw tooMuchMemory() }
            span.lastActivity = max(span.lastActivity, now)
            spans[id] = span
            bytes += after - before
            return span
        }

        /// Takes open span `id` to be written, finished with `status` at `now`.
        mutating func beginFinish(_ id: UInt64, status: TelemetrySpan.Status, message: String, tags: TelemetryTags,
                                  now: UInt64) throws(TelemetryError) -> TelemetrySpan {
            let span = try update(id, now: now, budget: false) { span throws(TelemetryError) in
                span.tags.merge(tags)
                span.finish(status, message: message, at: now)
            }
            finishing.insert(id)
            return span
        }

        /// Takes every open span idle for the timeout at `now`, finished with status error.
        mutating func beginExpire(now: UInt64, message: String) -> [TelemetrySpan] {
            let timeout = limits.timeout
            return take(where: { now >= $0.lastActivity && now - $0.lastActivity >= timeout }, message: message, now: now)
        }

        /// Stops taking new spans and takes every open one, finished with status error.
        mutating func closeAll(now: UInt64, message: String) -> [TelemetrySpan] {
            closed = true
            return take(where: { _ in true }, message: message, now: now)
        }

        private mutating func take(where due: (TelemetrySpan) -> Bool, message: String, now: UInt64) -> [TelemetrySpan] {
            var taken: [TelemetrySpan] = []
            for (id, span) in spans where !finishing.contains(id) && due(span) {
                var span = span
                let before = span.footprint
                span.finish(.error, message: message, at: now)
                spans[id] = span
                bytes += span.footprint - before
                finishing.insert(id)
                taken.append(span)
            }
            return taken.sorted { ($0.startTime, $0.spanID) < ($1.startTime, $1.spanID) }
        }

        /// Ends the finish of `ids`: written spans go, the others are open again as before.
        mutating func endFinish(_ ids: [UInt64], written: Bool) {
            for id in ids where finishing.remove(id) != nil {
                guard var span = spans[id] else { continue }
                if written {
                    spans[id] = nil
                    bytes -= span.footprint
                    remember(span)
                } else {
                    let before = span.footprint
                    span.status = nil
                    span.statusMessage = ""
                    span.endTime = 0
                    spans[id] = span
                    bytes += span.footprint - before
                }
            }
        }

        private mutating func remember(_ span: TelemetrySpan) {
            guard limits.rememberedFinished > 0 else {
                if roots[span.traceID] == span.spanID { roots[span.traceID] = nil }
                return
            }
            if finishedOrder.count < limits.rememberedFinished {
                finishedOrder.append(span.spanID)
            } else {
                let evicted = finishedOrder[finishedNext]
                if let trace = finished.removeValue(forKey: evicted), roots[trace] == evicted { roots[trace] = nil }
                finishedOrder[finishedNext] = span.spanID
                finishedNext = (finishedNext + 1) % limits.rememberedFinished
            }
            finished[span.spanID] = span.traceID
        }

        /// Open span `id`: 404 if unknown, 409 if finished or being finished.
        func openSpan(_ id: UInt64) throws(TelemetryError) -> TelemetrySpan {
            if finishing.contains(id) {
                throw TelemetryError(.conflict, "span \(Hex.string(id)) is being finished")
            }
            if let span = spans[id] { return span }
            if finished[id] != nil {
                throw TelemetryError(.conflict, "span \(Hex.string(id)) is already finished")
            }
            throw TelemetryError(.notFound, "no open span \(Hex.string(id)); it was never started, or finished long ago")
        }

        private func tooMuchMemory() -> TelemetryError {
            TelemetryError(.busy, "open spans hold \(bytes) bytes, near the most allowed (telemetry.max_open_bytes: \(limits.maxOpenBytes)); finish some first",
                           retryAfterSeconds: 1)
        }
    }
}

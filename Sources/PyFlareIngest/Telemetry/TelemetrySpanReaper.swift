public import Logging
public import ServiceLifecycle

/// Closes telemetry spans nobody finished: those idle for `telemetry.span_timeout_seconds`,
/// and at graceful shutdown every open one, each written with status error and a message
/// saying why.
///
/// Register it after the REST API and before the batcher's drain trigger in the
/// `ServiceGroup`: services stop in reverse order, so at shutdown the batcher is already
/// draining (writes go through at once) and the API still answers while the open spans are
/// written; requests that come later for them get 409 or 503.
public struct TelemetrySpanReaper: Service {
    package let spans: TelemetrySpans
    let writer: TelemetryWriter
    let logger: Logger

    public init(spans: TelemetrySpans, writer: TelemetryWriter, logger: Logger) {
        self.spans = spans
        self.writer = writer
        self.logger = logger
    }

    /// How often idle spans are looked for: a quarter of the timeout, between 50 ms and 1 s.
    package var interval: Duration {
        min(.seconds(1), max(.milliseconds(50), spans.configuration.spanTimeout / 4))
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    await closeExpired()
                }
            }
            // Until shutdown is requested; cancellation ends the wait too, and we close all the same.
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await closeAll()
    }

    /// Writes the spans idle for the timeout; those that cannot be written now are tried again next time.
    package func closeExpired() async {
        let expired = spans.beginExpire()
        guard !expired.isEmpty else { return }
        do throws(TelemetryError) {
            try await writer.write(expired)
            spans.endFinish(expired, written: true)
            logger.info("closed telemetry spans that timed out", metadata: ["spans": "\(expired.count)"])
        } catch {
            spans.endFinish(expired, written: false)
            logger.warning("could not write timed-out telemetry spans; retrying", metadata: [
                "spans": "\(expired.count)", "error": "\(error.message)",
            ])
        }
    }

    /// Stops new spans and writes every open one, retrying a full queue for up to 10 s.
    package func closeAll() async {
        let open = spans.closeAll()
        guard !open.isEmpty else { return }
        var attempt = 0
        while true {
            do throws(TelemetryError) {
                try await writer.write(open)
                spans.endFinish(open, written: true)
                logger.info("closed open telemetry spans at shutdown", metadata: ["spans": "\(open.count)"])
                return
            } catch where error.kind == .busy && attempt < 50 {
                attempt += 1
                try? await Task.sleep(for: .milliseconds(200))
            } catch {
                spans.endFinish(open, written: false)
                logger.error("open telemetry spans could not be written at shutdown and are lost", metadata: [
                    "spans": "\(open.count)", "error": "\(error.message)",
                ])
                return
            }
        }
    }
}

import Foundation
import PyFlareWire

/// Times of the telemetry API: wall-clock unix nanoseconds, as OTLP stores them.
package enum TelemetryTime {
    /// Latest `timestamp` accepted, in unix seconds (UnixTime.latest, 2200): larger numbers are
    /// milliseconds or nanoseconds sent by mistake.
    package static let maxSeconds = Double(UnixTime.latest / UnixTime.second)

    /// Now, in unix nanoseconds.
    @Sendable package static func now() -> UInt64 {
        UInt64(UnixTime.nowNanoseconds())
    }
}

import PyFlareTesting
import PyFlareWire
import Testing

/// Times past ``UnixTime/latest`` are refused where records are decoded and where requests are
/// parsed, so nothing acknowledged or asked for can overflow the `Int64` time arithmetic after it.
struct TimeBoundsTests {
    static let trace = TraceID(high: 0x0102, low: 0x0304)

    static func spans(start: UInt64, end: UInt64) throws -> SpanBatch {
        var builder = OTLPPayloadBuilder()
        var late = OTLPPayloadBuilder.Span(traceID: trace, spanID: 1)
        late.startTime = start
        late.endTime = end
        builder.add(late)
        builder.add(OTLPPayloadBuilder.Span(traceID: trace, spanID: 2))
        return try SpanBatch.decodeProtobuf(builder.payload())
    }

    static let lateTimes: [(UInt64, UInt64)] = [
        (UnixTime.latestUnsigned + 1, UnixTime.latestUnsigned + 2),
        (1 << 63, 1 << 63),
        (UInt64.max - 1, UInt64.max),
        (1_700_000_000_000_000_000, UInt64.max),
    ]

    @Test(arguments: lateTimes)
    func aSpanPastTheLatestTimeIsRefusedAloneWithAReason(start: UInt64, end: UInt64) throws {
        let batch = try Self.spans(start: start, end: end)
        #expect(batch.count == 1)
        #expect(batch.spanIDs == [2])
        #expect(batch.rejectedSpanCount == 1)
        #expect(batch.rejectionMessage?.contains("after 2200-01-01T00:00:00Z") == true)
    }

    @Test func aSpanAtTheLatestTimeAndAtZeroIsKept() throws {
        #expect(try Self.spans(start: 0, end: UnixTime.latestUnsigned).count == 2)
    }

    @Test func theSameBoundHoldsInOTLPJSON() throws {
        let body = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":"18446744073709551615","endTimeUnixNano":"18446744073709551615"}]}]}]}"#
        let batch = try SpanBatch.decodeJSON(Array(body.utf8))
        #expect(batch.count == 0 && batch.rejectedSpanCount == 1)
    }

    @Test(arguments: ["9999-12-31T23:59:59Z", "2200-01-01T00:00:00.000000001Z", "2262-04-11T23:47:16Z", "7258118400000000001",
                      "9223372036854775808", "18446744073709551616", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                      "+5", "-1", "", String(repeating: "9", count: 10_000)])
    func requestTimesOutsideTheStorableRangeDoNotParse(_ text: String) {
        #expect(RFC3339.nanoseconds(text) == nil)
    }

    @Test func theStorableRangeParsesExactly() {
        #expect(RFC3339.nanoseconds("2200-01-01T00:00:00Z") == UnixTime.latestUnsigned)
        #expect(RFC3339.nanoseconds(String(UnixTime.latestUnsigned)) == UnixTime.latestUnsigned)
        #expect(RFC3339.nanoseconds("1970-01-01T00:00:00.000000001Z") == 1)
        #expect(RFC3339.nanoseconds("2026-11-21T10:00:00.5Z") == 1_795_255_200_500_000_000)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e309, 9.3e18, -9.3e18, 1e26])
    func doublesThatDoNotFitConvertToNil(_ value: Double) {
        #expect(Int64(checked: value) == nil)
    }

    @Test func doublesThatFitConvertTowardZero() {
        #expect(Int64(checked: -1.9) == -1)
        #expect(Int64(checked: 9.2e18) == 9_200_000_000_000_000_000)
        #expect(UInt64(checked: -0.5) == nil)
        #expect(UInt64(checked: 1.8e19) == 18_000_000_000_000_000_000)
    }
}

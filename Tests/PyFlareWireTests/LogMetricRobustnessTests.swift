import PyFlareWire
import Testing

/// Hostile input for the log and metric decoders: every truncation and random byte changes of
/// the fixtures must decode into a batch whose references are all in bounds, or throw a
/// ``WireError`` with a message and an offset inside the payload.
@Suite("Hostile log and metric input", .timeLimit(.minutes(2)))
struct LogMetricRobustnessTests {
    static func record(_ outcomes: inout Outcomes, _ label: @autoclosure () -> String, _ signal: SignalFixture, _ payload: [UInt8], json: Bool) {
        outcomes.record(label(), payloadCount: payload.count, consistent: \.isConsistent) { () throws(WireError) in
            try signal.decode(payload, json: json)
        }
    }

    @Test("Every truncation of a fixture decodes or throws (of the JSON, only the one without the final newline decodes)",
          arguments: SignalFixture.allCases, [false, true])
    func truncations(signal: SignalFixture, json: Bool) throws {
        let payload = try signal.bytes(json: json)
        var outcomes = Outcomes()
        for length in 0..<payload.count {
            Self.record(&outcomes, "prefix \(length)", signal, Array(payload[..<length]), json: json)
        }
        #expect(outcomes.decoded + outcomes.failed == payload.count)
        if json {
            #expect(outcomes.decoded == 1)
        } else {
            #expect(outcomes.decoded >= 1 && outcomes.failed > payload.count / 2)
            #expect(outcomes.codes.contains("truncated"))
        }
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    @Test("3,000 random byte changes of a protobuf fixture (1,500 of a JSON one) decode or throw",
          arguments: SignalFixture.allCases, [false, true])
    func flips(signal: SignalFixture, json: Bool) throws {
        let payload = try signal.bytes(json: json)
        var outcomes = Outcomes()
        for (number, mutated) in RobustnessTests.mutations(of: payload, count: json ? 1_500 : 3_000, seed: json ? 0x10C5_0002 : 0x10C5_0001).enumerated() {
            Self.record(&outcomes, "mutation \(number)", signal, mutated, json: json)
        }
        #expect(outcomes.decoded > 0 && outcomes.failed > 0)
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    @Test("Attribute nesting bombs throw .nestingTooDeep at every owner of a metric request")
    func metricNestingBombs() {
        let bomb = nestedAnyValue(depth: 10_000, keyValueLists: true)
        var keyValue = ProtoWriter()
        keyValue.stringField(1, "bomb")
        keyValue.bytesField(2, bomb)
        var metadata = ProtoWriter()
        metadata.stringField(1, "m")
        metadata.bytesField(12, keyValue.bytes)
        metadata.messageField(5) { $0.bytesField(1, numberPoint(double: 1)) }
        var pointAttribute = ProtoWriter()
        pointAttribute.fixed64Field(4, 0)
        pointAttribute.bytesField(7, keyValue.bytes)
        var exemplar = ProtoWriter()
        exemplar.bytesField(7, keyValue.bytes)
        let payloads = [
            exportRequest([metadata.bytes]),
            exportRequest([metricMessage("p", points: [pointAttribute.bytes])]),
            exportRequest([metricMessage("e", points: [numberPoint(double: 1, exemplars: [exemplar.bytes])])]),
        ]
        for (number, payload) in payloads.enumerated() {
            do {
                _ = try MetricBatch.decodeProtobuf(payload)
                Issue.record("bomb \(number) decoded")
            } catch {
                #expect(error.code == .nestingTooDeep, "bomb \(number)")
                #expect(error.offset > 0 && error.offset < payload.count)
            }
        }
    }

    @Test("A huge length prefix inside a record or a point is .truncated")
    func hugeLengths() {
        for length: UInt64 in [1 << 62, UInt64.max] {
            var record = ProtoWriter()
            record.tag(3, 2)
            record.varint(length)
            var point = ProtoWriter()
            point.tag(7, 2)
            point.varint(length)
            do {
                _ = try LogBatch.decodeProtobuf(exportRequest([record.bytes]))
                Issue.record("log record decoded")
            } catch {
                #expect(error.code == .truncated)
            }
            do {
                _ = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("h", dataField: 9, points: [point.bytes])]))
                Issue.record("point decoded")
            } catch {
                #expect(error.code == .truncated)
            }
        }
    }
}

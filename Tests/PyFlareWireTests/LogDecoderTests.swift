import PyFlareWire
import Testing

/// A `LogRecord` message with the given fields (ids as raw bytes, so wrong lengths can be sent).
func logRecordMessage(traceID: [UInt8]? = nil, spanID: [UInt8]? = nil, body: AttributeValue? = nil,
                      attributes: KeyValues = [], eventName: String = "", time: UInt64 = 0) -> [UInt8] {
    var encoder = ProtoRequestEncoder()
    var writer = ProtoWriter()
    if time != 0 { writer.fixed64Field(1, time) }
    if let body { writer.bytesField(5, encoder.anyValue(body)) }
    for (key, value) in attributes { writer.bytesField(6, encoder.keyValue(key, value)) }
    if let traceID { writer.bytesField(9, traceID) }
    if let spanID { writer.bytesField(10, spanID) }
    if !eventName.isEmpty { writer.stringField(12, eventName) }
    return writer.bytes
}

/// An OTLP/JSON logs request with one resource and one scope holding `records` (JSON objects).
func jsonLogsRequest(_ records: String) -> [UInt8] {
    Array(#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeLogs":[{"scope":{"name":"s"},"logRecords":[\#(records)]}]}]}"#.utf8)
}

/// A record carrying `tag` in its body (a nested list), an attribute and its event name.
func richLogRecord(_ tag: String, traceID: [UInt8]? = Array(1...16), spanID: [UInt8]? = Array(1...8)) -> [UInt8] {
    logRecordMessage(traceID: traceID, spanID: spanID,
                     body: .keyValueList([("tag", .string(tag)), ("list", .array([.string(tag), .keyValueList([("deep", .int(1))])]))]),
                     attributes: [("tag", .string(tag)), ("nested", .array([.string(tag)]))], eventName: "event.\(tag)")
}

@Suite("Log decoding")
struct LogDecoderTests {
    @Test("logs: the tricky values, spelled out")
    func spotChecks() throws {
        let batch = try LogBatch.decodeProtobuf(Fixtures.bytes("logs.pb"))
        try #require(batch.count == 15)
        #expect(batch.resources.count == 2 && batch.scopes.count == 3)
        #expect(batch.bodies.count == batch.count && batch.bodies.keys.allSatisfy { $0.isEmpty })
        #expect(batch.severityNumbers.prefix(3) == [9, 20, 5])
        #expect(batch.string(batch.eventNames[1]) == "app.checkout.failed")
        #expect(batch.traceIDs[1] != .zero && batch.spanIDs[1] == 0)
        #expect(batch.traceIDs[2] == .zero && batch.spanIDs[2] == 0x5399_5C3F_42CD_8AD8)
        #expect(batch.bodies.kinds.prefix(4) == [.string, .keyValueList, .array, .int])
        // The body present but empty, and the record with no body at all, both read as empty.
        #expect(batch.bodies.kinds[11] == .empty && batch.bodies.kinds[12] == .empty)
        #expect(batch.value(in: batch.bodies, row: 13) == .string("line\nbreak \"quoted\" \\ tab\t"))
        #expect(batch.times[14] == 7_258_118_400_000_000_000)
        #expect(batch.flags[14] == .max)
        guard case let .array(elements) = batch.value(in: batch.bodies, row: 2) else {
            Issue.record("body 2 is not an array")
            return
        }
        #expect(elements[3] == .int(.min) && elements[4] == .int(.max))
        if case let .double(nan) = elements[5] { #expect(nan.isNaN) } else { Issue.record("no NaN") }
    }

    @Test("A record with an id of the wrong length is refused alone; the rest line up", arguments: [
        ("trace_id of 15 bytes", [UInt8](1...15), [UInt8](1...8), "trace_id"),
        ("trace_id of 17 bytes", [UInt8](1...17), [UInt8](1...8), "trace_id"),
        ("span_id of 7 bytes", [UInt8](1...16), [UInt8](1...7), "span_id"),
        ("span_id of 9 bytes", [UInt8](1...16), [UInt8](1...9), "span_id"),
    ])
    func protobufWrongLengthIDs(label: String, traceID: [UInt8], spanID: [UInt8], field: String) throws {
        let payload = exportRequest([richLogRecord("a"), richLogRecord("bad", traceID: traceID, spanID: spanID),
                                   richLogRecord("c"), richLogRecord("bad2", traceID: [1, 2]), richLogRecord("e", traceID: nil, spanID: [])])
        let batch = try LogBatch.decodeProtobuf(payload)
        #expect(batch.count == 3, "\(label)")
        #expect(batch.rejectedCount == 2)
        let message = try #require(batch.rejectionMessage)
        #expect(message.contains(field) && message.contains("log record at byte"), "\(message)")
        // The kept records read back correctly and the refused ones left no rows behind.
        let clean = try LogBatch.decodeProtobuf(exportRequest([richLogRecord("a"), richLogRecord("c"), richLogRecord("e", traceID: nil, spanID: [])]))
        expectSame(Describe.logs(batch), Describe.logs(clean), label)
        #expect(batch.attributes.count == clean.attributes.count)
        #expect(batch.nestedValues.count == clean.nestedValues.count)
        #expect(batch.recordAttributes == clean.recordAttributes)
        #expect(batch.traceIDs[2] == .zero && batch.spanIDs[2] == 0)
    }

    @Test("JSON ids that are not hex of the right size refuse their record alone", arguments: [
        (#""traceId":"5b8efff798038103d269b633813fc6""#, "traceId"),
        (#""traceId":"5b8efff798038103d269b633813fc60c00""#, "traceId"),
        (#""traceId":"5b8efff798038103d269b633813fc6zz""#, "traceId"),
        (#""traceId":"W4793/eYA4EDSmbYzgT/GDA==""#, "traceId"),
        (#""spanId":"eee19b7ec3c1b1""#, "spanId"),
        (#""spanId":"eee19b7ec3c1b17g""#, "spanId"),
    ])
    func jsonWrongIDs(member: String, field: String) throws {
        func record(_ tag: String, _ extra: String = "") -> String {
            #"{"body":{"kvlistValue":{"values":[{"key":"t","value":{"arrayValue":{"values":[{"stringValue":"\#(tag)"}]}}}]}},"attributes":[{"key":"tag","value":{"stringValue":"\#(tag)"}}]\#(extra)}"#
        }
        let batch = try LogBatch.decodeJSON(jsonLogsRequest([record("a"), record("bad", "," + member), record("c", #","traceId":"","spanId":null"#)].joined(separator: ",")))
        #expect(batch.count == 2)
        #expect(batch.rejectedCount == 1)
        #expect(batch.rejectionMessage?.contains(field) == true, "\(String(describing: batch.rejectionMessage))")
        #expect(batch.attributes.count == 3)  // service.name and one per kept record
        #expect(batch.nestedValues.count == 4)  // per kept body: the kvlist's pair and the array's element
        #expect(batch.keyValues(in: batch.attributes, batch.recordAttributes[1]).map(\.value) == [.string("c")])
        #expect(batch.traceIDs == [.zero, .zero])
    }

    @Test("Body nesting: 64 levels decode, 65 throw .nestingTooDeep, a 10,000-deep bomb too")
    func bodyNesting() throws {
        func payload(_ depth: Int) -> [UInt8] {
            var record = ProtoWriter()
            record.bytesField(5, nestedAnyValue(depth: depth))
            return exportRequest([record.bytes])
        }
        let batch = try LogBatch.decodeProtobuf(payload(LogBatch.maxValueNesting))
        #expect(batch.count == 1 && batch.bodies.kinds == [.array])
        for depth in [LogBatch.maxValueNesting + 1, 10_000] {
            do {
                _ = try LogBatch.decodeProtobuf(payload(depth))
                Issue.record("\(depth) levels decoded")
            } catch {
                #expect(error.code == .nestingTooDeep)
            }
        }
        func json(_ depth: Int) -> [UInt8] {
            jsonLogsRequest(#"{"body":"# + String(repeating: #"{"arrayValue":{"values":["#, count: depth) + #"{"intValue":1}"#
                            + String(repeating: "]}}", count: depth) + "}")
        }
        #expect(try LogBatch.decodeJSON(json(LogBatch.maxValueNesting)).count == 1)
        do {
            _ = try LogBatch.decodeJSON(json(LogBatch.maxValueNesting + 1))
            Issue.record("65 levels decoded")
        } catch {
            #expect(error.code == .nestingTooDeep)
        }
    }

    @Test("Severity numbers: integers, names, strings of digits; out-of-range protobuf values are capped")
    func severities() throws {
        let batch = try LogBatch.decodeJSON(jsonLogsRequest([
            #"{"severityNumber":17}"#, #"{"severityNumber":"SEVERITY_NUMBER_FATAL4"}"#, #"{"severity_number":"SEVERITY_NUMBER_UNSPECIFIED"}"#,
            #"{"severityNumber":"13"}"#, #"{"severityNumber":"SEVERITY_NUMBER_TRACE2"}"#,
        ].joined(separator: ",")))
        #expect(batch.severityNumbers == [17, 24, 0, 13, 2])
        let bogus = jsonLogsRequest(#"{"severityNumber":"SEVERITY_NUMBER_LOUD"}"#)
        #expect(throws: WireError.self) { try LogBatch.decodeJSON(bogus) }
        var record = ProtoWriter()
        record.varintField(2, 300)
        var negative = ProtoWriter()
        negative.varintField(2, UInt64(bitPattern: -1))  // an int32 enum of -1, sign-extended
        #expect(try LogBatch.decodeProtobuf(exportRequest([record.bytes, negative.bytes])).severityNumbers == [255, 255])
    }

    @Test("Malformed protobuf throws: truncation, wrong lengths, bad wire types")
    func malformedProtobuf() {
        var record = ProtoWriter()
        record.tag(1, 1)  // time as fixed64 with 3 of its 8 bytes
        record.bytes += [1, 2, 3]
        for (label, payload, code) in [
            ("truncated fixed64", exportRequest([record.bytes]), WireError.Code.truncated),
            ("group wire type", [0x0B], .invalidWireType),
            ("record longer than its scope", Array(exportRequest([richLogRecord("x")]).dropLast(3)), .truncated),
        ] {
            do {
                _ = try LogBatch.decodeProtobuf(payload)
                Issue.record("\(label) decoded")
            } catch {
                #expect(error.code == code, "\(label): \(error)")
            }
        }
    }

    @Test("Fields with the wrong wire type are skipped, not misread")
    func wrongWireTypes() throws {
        var record = ProtoWriter()
        record.varintField(1, 5)  // time_unix_nano must be fixed64
        record.fixed64Field(2, 9)  // severity_number must be a varint
        record.varintField(5, 1)  // body must be a message
        record.fixed64Field(8, 1)  // flags must be fixed32
        record.varintField(9, 1)  // trace_id must be bytes
        record.fixed32Field(12, 1)  // event_name must be a string
        let batch = try LogBatch.decodeProtobuf(exportRequest([record.bytes]))
        #expect(batch.count == 1 && batch.rejectedCount == 0)
        #expect(batch.times == [0] && batch.severityNumbers == [0] && batch.flags == [0] && batch.bodies.kinds == [.empty])
        #expect(batch.traceIDs == [.zero] && batch.eventNames == [.empty])
    }
}

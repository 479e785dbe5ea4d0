import Testing
@testable import PyFlareWire

struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func keepsIntegersBooleansAndDoublesApart() throws {
        let value = try parse(#" {"i": 3, "d": 3.0, "e": 1e3, "n": -7, "t": true, "f": false, "z": null, "big": 9223372036854775808} "#)
        #expect(value["i"] == .int(3))
        #expect(value["d"] == .double(3.0))
        #expect(value["e"] == .double(1000))
        #expect(value["n"] == .int(-7))
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .bool(false))
        #expect(value["z"] == .null)
        // Past Int64: a double, not an error.
        #expect(value["big"] == .double(9_223_372_036_854_775_808))
        #expect(value["missing"] == nil)
    }

    @Test func readsNestedValuesAndEscapes() throws {
        let value = try parse(#"{"a": [1, "x\n\u00e9\ud83d\ude00", {"b": []}], "k\"ey": {}}"#)
        #expect(value["a"] == .array([.int(1), .string("x\né😀"), .object([(key: "b", value: .array([]))])]))
        #expect(value["k\"ey"] == .object([]))
    }

    @Test func aRepeatedKeyReadsAsTheLastOne() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#)["a"] == .int(2))
    }

    @Test func hugeLiteralsReadAsInfinity() throws {
        #expect(try parse("1e400") == .double(.infinity))
    }

    @Test func malformedInputIsRefusedWithItsOffset() throws {
        for text in ["", "{", #"{"a" 1}"#, "[1,]", "{} {}", "tru", #"{"a": 1,}"#, "01x", "-", #""unterminated"#] {
            #expect(throws: WireError.self, "\(text)") { try parse(text) }
        }
        let error = try #require(throws: WireError.self) { try parse(#"{"a": 1} x"#) }
        #expect(error.code == .invalidJSON)
        #expect(error.offset == 9)
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let error = try #require(throws: WireError.self) { try parse(deep) }
        #expect(error.message.contains("deeper than"))
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try parse(fine) }
    }
}

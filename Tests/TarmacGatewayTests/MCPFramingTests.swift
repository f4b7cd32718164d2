import Foundation
import PropertyBased
import TarmacTesting
import Testing
@testable import TarmacGateway

/// The framing the gateway reads on the MCP endpoint, fuzzed: server-sent event streams with every line ending (LF,
/// CRLF, CR), split at every byte boundary or at random ones, BOMs, comments, multi-line data, huge and empty events,
/// invalid UTF-8. The incremental reader gives exactly the events of a reference reading of the whole stream, and the
/// tools/list filter's output equals the reference reading filtered: nothing the rule refuses, and nothing unreadable,
/// is passed on.
@Suite struct MCPFramingTests {
    typealias Rng = SeededGenerator

    static let endings: [[UInt8]] = [[0x0A], [0x0D, 0x0A], [0x0D]]

    /// The reference reading: the whole stream at once, line endings made LF first, then split.
    static func reference(_ bytes: [UInt8]) -> [ServerSentEvents.Event] {
        var b = bytes
        if b.starts(with: ServerSentEvents.byteOrderMark) { b.removeFirst(3) }
        var normalized: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == 0x0D {
                normalized.append(0x0A)
                if i + 1 < b.count, b[i + 1] == 0x0A { i += 1 }
            } else {
                normalized.append(b[i])
            }
            i += 1
        }
        var events: [ServerSentEvents.Event] = []
        var lines: [ServerSentEvents.Line] = []
        let all = normalized.split(separator: 0x0A, omittingEmptySubsequences: false)
        // The last piece follows the last line ending: not a complete line.
        for raw in all.dropLast() {
            if raw.isEmpty {
                if !lines.isEmpty { events.append(.init(lines: lines)) }
                lines = []
            } else if let c = raw.firstIndex(of: 0x3A) {
                var v = raw[(c + 1)...]
                if v.first == 0x20 { v = v.dropFirst() }
                lines.append(.init(name: c == raw.startIndex ? nil : Array(raw[..<c]), value: Array(v)))
            } else {
                lines.append(.init(name: Array(raw), value: []))
            }
        }
        return events
    }

    /// A random stream: events of fields, comments and data lines (values with multi-byte and invalid UTF-8, never a
    /// line break), each line ended by a random ending, sometimes a BOM first and a partial event last.
    static func stream(_ rng: inout Rng, json: (inout Rng) -> [UInt8]? = { _ in nil }) -> [UInt8] {
        var out: [UInt8] = rng.int(4) == 0 ? ServerSentEvents.byteOrderMark : []
        let alphabet: [[UInt8]] = [Array("a".utf8), Array(" ".utf8), Array(":".utf8), Array("{".utf8), Array("é".utf8), Array("日".utf8), [0xFF], [0xC3], Array("x".utf8)]
        func value(_ rng: inout Rng) -> [UInt8] { (0..<rng.int(12)).flatMap { _ in rng.pick(alphabet) } }
        for _ in 0..<rng.int(8) {
            for _ in 0..<(1 + rng.int(4)) {
                switch rng.int(7) {
                case 0: out += Array("id: ".utf8) + value(&rng)
                case 1: out += Array("event:".utf8) + value(&rng)
                case 2: out += Array(": keep-alive ".utf8) + value(&rng)
                case 3: out += Array("retry: 100".utf8)
                case 4: out += Array("nocolon".utf8)
                default:
                    if let j = json(&rng) { out += Array("data: ".utf8) + j } else { out += Array("data:".utf8) + value(&rng) }
                }
                out += rng.pick(endings)
            }
            out += rng.pick(endings)
            // Blank lines between events are not events.
            if rng.int(5) == 0 { out += rng.pick(endings) }
        }
        if rng.int(3) == 0 { out += Array("data: partial".utf8) }
        return out
    }

    static func read(_ bytes: [UInt8], cuts: [Int]) -> [ServerSentEvents.Event] {
        var reader = ServerSentEvents()
        var events: [ServerSentEvents.Event] = []
        var start = 0
        for c in cuts.sorted() + [bytes.count] where c >= start {
            events += reader.feed(bytes[start..<c])
            start = c
        }
        return events
    }

    @Test func randomStreamsReadAsTheReferenceWhereverTheyAreCut() async {
        await propertyCheck(count: 500, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = Rng(seed: seed)
            let bytes = Self.stream(&rng)
            let expected = Self.reference(bytes)
            let cuts = (0..<rng.int(6)).map { _ in bytes.isEmpty ? 0 : rng.int(bytes.count + 1) }
            #expect(Self.read(bytes, cuts: cuts) == expected, "seed \(seed)")
            #expect(Self.read(bytes, cuts: Array(0...bytes.count)) == expected, "one byte at a time, seed \(seed)")
        }
    }

    /// The official SDK's framing (CRLF, `event: message`), cut at every byte boundary.
    @Test func theSDKsCRLFStreamReadsTheSameCutAnywhere() {
        let sdk = Array("event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"get_ticket\"},{\"name\":\"close_ticket\"}]}}\r\n\r\n".utf8)
            + Array(": ping\r\n\r\nid: 7\r\ndata:\r\n\r\nevent: message\rdata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\r".utf8)
        let expected = Self.reference(sdk)
        #expect(expected.count == 4 && expected[0].data.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("{\"jsonrpc\"") == true)
        for i in 0...sdk.count {
            #expect(Self.read(sdk, cuts: [i]) == expected, "cut at \(i)")
        }
        // Split in two, CRLF across the cut: the CR ends the line, the LF that follows is not a blank line.
        var r = ServerSentEvents()
        #expect(r.feed(Array("data: a\r".utf8)).isEmpty)
        #expect(r.feed(Array("\ndata: b\r\n\r\n".utf8)).map { $0.data.map { String(decoding: $0, as: UTF8.self) } } == ["a\nb"])
    }

    static let allowed: Set<String> = ["get_ticket", "add_comment"]
    static let names = ["get_ticket", "add_comment", "close_ticket", "delete_everything"]

    /// A JSON-RPC message for a data line: a tools/list result, a notification, a batch, or (sometimes) not JSON at all.
    static func message(_ rng: inout Rng) -> [UInt8]? {
        let tools = (0..<rng.int(5)).map { _ in ["name": rng.pick(names), "description": "d"] }
        let one: [String: Any] = ["jsonrpc": "2.0", "id": rng.int(50), "result": ["tools": tools]]
        switch rng.int(6) {
        case 0: return Array("{\"jsonrpc\": \"2.0\", \"result\": {\"tools\": [{\"name\": \"close_ticket\"".utf8)  // cut short
        case 1: return [0x7B, 0xFF, 0x7D]  // invalid UTF-8
        case 2: return Array((try! JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progress": 1]])))
        case 3: return Array((try! JSONSerialization.data(withJSONObject: [one, one])))
        default: return Array((try! JSONSerialization.data(withJSONObject: one)))
        }
    }

    /// The reference filter: the reference reading, each event's data filtered with the same rule (or dropped when it
    /// is not JSON), written out.
    static func referenceFilter(_ bytes: [UInt8]) -> (bytes: [UInt8], unreadable: Int) {
        var out: [UInt8] = []
        var unreadable = 0
        for e in reference(bytes) {
            guard let d = e.data, !d.isEmpty else { out += e.bytes; continue }
            guard let o = try? JSONSerialization.jsonObject(with: Data(d)), o is [String: Any] || o is [Any] else {
                unreadable += 1
                out += e.replacingData(nil).bytes
                continue
            }
            if let f = MCPMessage.filterTools(o, keep: { allowed.contains($0) }) {
                out += e.replacingData(Array(try! JSONSerialization.data(withJSONObject: f, options: [.sortedKeys]))).bytes
            } else {
                out += e.bytes
            }
        }
        return (out, unreadable)
    }

    @Test func theFilterPassesOnExactlyTheReferenceFilteredAndNothingItRefuses() async {
        await propertyCheck(count: 400, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = Rng(seed: seed)
            let bytes = Self.stream(&rng, json: { rng in rng.int(3) == 0 ? nil : Self.message(&rng) })
            var filter = MCPEventFilter(keep: { Self.allowed.contains($0) })
            var out: [UInt8] = []
            var start = 0
            for c in ((0..<rng.int(8)).map { _ in rng.int(bytes.count + 1) }).sorted() + [bytes.count] where c >= start {
                out += filter.feed(bytes[start..<c])
                start = c
            }
            let expected = Self.referenceFilter(bytes)
            #expect(out == expected.bytes, "seed \(seed)")
            #expect(filter.unreadable == expected.unreadable, "seed \(seed)")
            // Read back: no refused tool in any result, and every data line is JSON.
            for e in Self.reference(out) {
                guard let d = e.data, !d.isEmpty else { continue }
                let o = try? JSONSerialization.jsonObject(with: Data(d))
                #expect(o != nil, "an unreadable event was passed on (seed \(seed))")
                let text = String(decoding: d, as: UTF8.self)
                if text.contains("\"tools\"") {
                    #expect(!text.contains("close_ticket") && !text.contains("delete_everything"), "seed \(seed): \(text)")
                }
            }
        }
    }

    @Test func aListingThatCannotBeReadIsNotPassedOn() {
        let keep: (String) -> Bool = { Self.allowed.contains($0) }
        let good = Data("event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"get_ticket\"},{\"name\":\"close_ticket\"}]}}\r\n\r\n".utf8)
        let filtered = try! #require(MCPEventFilter.filterWhole(good, keep: keep))
        #expect(filtered.unreadable == 0)
        #expect(String(decoding: filtered.data, as: UTF8.self) == "event: message\ndata: {\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[{\"name\":\"get_ticket\"}]}}\n\n")
        // Cut short, invalid UTF-8, or never ended: counted unreadable, so a listing is refused.
        for bad in ["data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"close_ticket\"}\n\n", "data: {\"id\":1,\u{FFFD}\n\n",
                    "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"close_ticket\"}]}}\n"] {
            let f = MCPEventFilter.filterWhole(Data(bad.utf8), keep: keep)
            #expect(f == nil || f!.unreadable > 0 || !String(decoding: f!.data, as: UTF8.self).contains("close_ticket"), "\(bad)")
        }
        let invalid = Data([0x64, 0x61, 0x74, 0x61, 0x3A, 0x20, 0x7B, 0xFF, 0x7D, 0x0A, 0x0A])
        #expect(MCPEventFilter.filterWhole(invalid, keep: keep)?.unreadable == 1)
        #expect(MCPMessage.filterJSON(Data("{\"result\": {\"tools\": [".utf8), keep: keep) == nil)
        // A huge event passes; one past the reader's limit ends the stream unread.
        let big = "data: {\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"x\":\"" + String(repeating: "a", count: 4 << 20) + "\"}}\n\n"
        #expect(MCPEventFilter.filterWhole(Data(big.utf8), keep: keep)?.unreadable == 0)
        var small = ServerSentEvents(limit: 1024)
        _ = small.feed(Array(big.utf8))
        #expect(small.overflowed)
    }

    @Test func everyMessageShapeAClientMayPostIsRead() throws {
        func parsed(_ s: String) -> MCPMessage.Parsed? { try? MCPMessage.parse(Data(s.utf8)).get() }
        #expect(parsed(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket","arguments":{"id":"T-1"}}}"#)?.messages.first?.summary == "tools/call get_ticket")
        #expect(parsed(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?.messages.first?.summary == "notifications/initialized")
        #expect(parsed(#"{"jsonrpc":"2.0","id":"srv-1","result":{}}"#)?.messages.first?.summary == "response to \"srv-1\"")
        #expect(parsed(#"{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}"#)?.messages.first?.summary == "error to 4")
        let batch = try #require(parsed(#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/cancelled"}]"#))
        #expect(batch.batch && batch.lists && batch.requestIDs == ["n:1"])
        // Refused: not JSON-RPC 2.0, a response without an id, both result and error, an empty batch, a bare value.
        for bad in [#"{"id":1,"method":"x"}"#, #"{"jsonrpc":"2.0","result":{}}"#, #"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#, "[]", "3",
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#, #"{"jsonrpc":"2.0","id":[1],"method":"x"}"#] {
            #expect(parsed(bad) == nil, "\(bad)")
        }
        #expect(MCPMessage.allowsBatches(version: "2025-03-26") && MCPMessage.allowsBatches(version: nil))
        #expect(!MCPMessage.allowsBatches(version: "2025-06-18") && !MCPMessage.allowsBatches(version: "2026-07-28"))
    }
}

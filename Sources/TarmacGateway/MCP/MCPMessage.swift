import Foundation
import TarmacIdentity

/// The JSON-RPC of MCP's streamable HTTP transport, as the gateway reads it: every message a client may POST (requests,
/// notifications, and its responses to the server's requests; a batch of them where the protocol version allows it),
/// the protocol versions it knows, and the error shapes it answers with.
enum MCPMessage {
    /// One JSON-RPC message.
    struct Message {
        enum Kind {
            case request(method: String, toolName: String?, arguments: [String: ToolAccess.ArgumentValue])
            case notification(method: String)
            /// A client's answer to a server's request (ping, sampling, elicitation, roots).
            case response(isError: Bool)
        }

        var id: Any?
        var kind: Kind

        /// What the audit says of it: `tools/call get_ticket`, `notifications/initialized`, `response to 3`.
        var summary: String {
            switch kind {
            case .request(let m, let tool, _): return m + (tool.map { " " + $0 } ?? "")
            case .notification(let m): return m
            case .response(let isError): return "\(isError ? "error" : "response") to \(MCPMessage.idText(id))"
            }
        }
    }

    /// A POST body: one message, or a batch.
    struct Parsed {
        var messages: [Message]
        var batch: Bool

        var requestIDs: Set<String> {
            Set(messages.compactMap { m in if case .request = m.kind { MCPMessage.key(m.id) } else { nil } })
        }
        var lists: Bool { messages.contains { if case .request(let m, _, _) = $0.kind { m == "tools/list" } else { false } } }
        var firstRequestID: Any?? {
            for m in messages { if case .request = m.kind { return .some(m.id) } }
            return nil
        }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// The versions of MCP whose framing the gateway reads: the handshake versions and the single-exchange one of
    /// 2026-07-28 that the official SDKs negotiate by default.
    static let supportedVersions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]
    /// Batches were part of MCP in 2025-03-26 only (and are read for earlier versions, where a client sends no header).
    static func allowsBatches(version: String?) -> Bool { version == nil || version! <= "2025-03-26" }
    /// JSON-RPC error codes: invalid request, and MCP's unsupported protocol version.
    static let invalidRequest = -32600
    static let unsupportedVersion = -32022
    /// Refusals of the gateway (not granted, pending, revoked, expired, wrong audience): a server-defined code.
    static let refused = -32001

    static func parse(_ body: Data) -> Result<Parsed, Refusal> {
        guard let o = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return .failure(Refusal(description: "the body is not JSON"))
        }
        if let one = o as? [String: Any] { return message(one).map { Parsed(messages: [$0], batch: false) } }
        guard let items = o as? [Any] else { return .failure(Refusal(description: "the body must be a JSON-RPC message (an object) or a batch (an array)")) }
        guard !items.isEmpty else { return .failure(Refusal(description: "an empty batch")) }
        var out: [Message] = []
        for (i, item) in items.enumerated() {
            guard let m = item as? [String: Any] else { return .failure(Refusal(description: "element \(i) of the batch is not a JSON-RPC message")) }
            switch message(m) {
            case .success(let msg): out.append(msg)
            case .failure(let why): return .failure(Refusal(description: "element \(i) of the batch: \(why.description)"))
            }
        }
        return .success(Parsed(messages: out, batch: true))
    }

    static func message(_ m: [String: Any]) -> Result<Message, Refusal> {
        guard m["jsonrpc"] as? String == "2.0" else { return .failure(Refusal(description: "a JSON-RPC 2.0 message needs \"jsonrpc\": \"2.0\"")) }
        let id = m["id"]
        if let id, !(id is String || id is NSNumber) {
            return .failure(Refusal(description: "a JSON-RPC id is a string or a number"))
        }
        if let method = m["method"] {
            guard let method = method as? String else { return .failure(Refusal(description: "a JSON-RPC method is a string")) }
            guard id != nil else { return .success(Message(id: nil, kind: .notification(method: method))) }
            var tool: String?
            var arguments: [String: ToolAccess.ArgumentValue] = [:]
            if method == "tools/call" {
                guard let p = m["params"] as? [String: Any], let name = p["name"] as? String else {
                    return .failure(Refusal(description: "tools/call needs params.name"))
                }
                tool = name
                for (k, v) in (p["arguments"] as? [String: Any]) ?? [:] {
                    switch v {
                    case let s as String: arguments[k] = .text(s)
                    case let n as NSNumber: arguments[k] = .text(n.stringValue)
                    default: arguments[k] = .other
                    }
                }
            }
            return .success(Message(id: id, kind: .request(method: method, toolName: tool, arguments: arguments)))
        }
        let hasResult = m["result"] != nil, hasError = m["error"] != nil
        guard id != nil, hasResult != hasError else {
            return .failure(Refusal(description: "a JSON-RPC message needs a method (a request or notification), or an id with a result or an error (a response)"))
        }
        return .success(Message(id: id, kind: .response(isError: hasError)))
    }

    /// A stable key for an id (`3` and `"3"` differ).
    static func key(_ id: Any?) -> String? {
        switch id {
        case let s as String: "s:" + s
        case let n as NSNumber: "n:" + n.stringValue
        default: nil
        }
    }

    static func idText(_ id: Any?) -> String {
        switch id {
        case let s as String: "\"" + s + "\""
        case let n as NSNumber: n.stringValue
        default: "null"
        }
    }

    /// A JSON-RPC error response for request `id`, with `data` when given.
    static func error(id: Any?, code: Int, message: String, data: [String: Any]? = nil) -> Data {
        var e: [String: Any] = ["code": code, "message": message]
        if let data { e["data"] = data }
        let o: [String: Any] = ["jsonrpc": "2.0", "id": id ?? NSNull(), "error": e]
        return (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
    }

    // MARK: tools/list answers

    /// Every response in `value` (a message or a batch) whose result lists tools keeps only those `keep` allows.
    /// Returns nil when nothing changed.
    static func filterTools(_ value: Any, keep: (String) -> Bool) -> Any? {
        if let items = value as? [Any] {
            var changed = false
            let out = items.map { item -> Any in
                guard let f = filterTools(item, keep: keep) else { return item }
                changed = true
                return f
            }
            return changed ? out : nil
        }
        guard var o = value as? [String: Any], o["method"] == nil, var result = o["result"] as? [String: Any],
              let tools = result["tools"] as? [Any] else { return nil }
        let kept = tools.filter { t in ((t as? [String: Any])?["name"] as? String).map(keep) ?? false }
        guard kept.count != tools.count else { return nil }
        result["tools"] = kept
        o["result"] = result
        return o
    }

    /// A JSON answer with its tools filtered; nil when it cannot be read (and so must not be passed on).
    static func filterJSON(_ body: Data, keep: (String) -> Bool) -> (data: Data, unreadable: Int)? {
        guard let o = try? JSONSerialization.jsonObject(with: body), o is [String: Any] || o is [Any] else { return nil }
        guard let f = filterTools(o, keep: keep) else { return (body, 0) }
        return (try? JSONSerialization.data(withJSONObject: f, options: [.sortedKeys])).map { ($0, 0) }
    }

    /// The ids of the responses in a message or batch.
    static func responseIDs(_ value: Any) -> [String] {
        if let items = value as? [Any] { return items.flatMap(responseIDs) }
        guard let o = value as? [String: Any], o["method"] == nil, o["result"] != nil || o["error"] != nil, let k = key(o["id"]) else { return [] }
        return [k]
    }
}

/// A stream of server-sent events on its way to an agent: each event read (bytes, `ServerSentEvents`), the tools of a
/// tools/list result filtered, and written out again; an event whose data is not JSON is not passed on (its other
/// fields are, so a reader's last event id stays right). Notes which responses went by, so a stream the agent closes
/// after the answers it waited for counts as complete.
struct MCPEventFilter {
    var events = ServerSentEvents()
    let keep: (String) -> Bool
    private(set) var responses: Set<String> = []
    private(set) var unreadable = 0

    init(keep: @escaping (String) -> Bool) { self.keep = keep }

    mutating func feed<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        for e in events.feed(bytes) { out += pass(e).bytes }
        return out
    }

    mutating func pass(_ e: ServerSentEvents.Event) -> ServerSentEvents.Event {
        guard let data = e.data, !data.isEmpty else { return e }
        guard let o = try? JSONSerialization.jsonObject(with: Data(data)), o is [String: Any] || o is [Any] else {
            unreadable += 1
            return e.replacingData(nil)
        }
        for id in MCPMessage.responseIDs(o) { responses.insert(id) }
        guard let f = MCPMessage.filterTools(o, keep: keep), let d = try? JSONSerialization.data(withJSONObject: f, options: [.sortedKeys]) else { return e }
        return e.replacingData(Array(d))
    }

    /// A whole answer at once, with how many events could not be read (a tools/list answer with any is not passed
    /// on); nil when the stream is larger than an event may be.
    static func filterWhole(_ body: Data, keep: @escaping (String) -> Bool) -> (data: Data, unreadable: Int)? {
        var f = MCPEventFilter(keep: keep)
        let out = f.feed(body)
        guard !f.events.overflowed else { return nil }
        return (Data(out), f.unreadable + (f.events.hasPartialEvent ? 1 : 0))
    }
}

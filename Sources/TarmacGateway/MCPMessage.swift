import Foundation
import TarmacIdentity

/// The JSON-RPC of MCP's streamable HTTP transport, as far as the gateway reads it: the method and, for `tools/call`,
/// the tool's name and arguments; and the `tools/list` result it filters.
enum MCPMessage {
    struct Request {
        var id: Any?
        var method: String
        var toolName: String?
        var arguments: [String: ToolAccess.ArgumentValue]
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// A single JSON-RPC request (batches are not part of MCP since 2025-06-18).
    static func parse(_ body: Data) -> Result<Request, Refusal> {
        guard let o = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else { return .failure(Refusal(description: "the body is not JSON")) }
        guard let m = o as? [String: Any] else { return .failure(Refusal(description: "the body must be one JSON-RPC message (an object)")) }
        guard let method = m["method"] as? String else { return .failure(Refusal(description: "a JSON-RPC request needs a method")) }
        var r = Request(id: m["id"], method: method, toolName: nil, arguments: [:])
        if method == "tools/call" {
            guard let p = m["params"] as? [String: Any], let name = p["name"] as? String else { return .failure(Refusal(description: "tools/call needs params.name")) }
            r.toolName = name
            for (k, v) in (p["arguments"] as? [String: Any]) ?? [:] {
                switch v {
                case let s as String: r.arguments[k] = .text(s)
                case let n as NSNumber: r.arguments[k] = .text(n.stringValue)
                default: r.arguments[k] = .other
                }
            }
        }
        return .success(r)
    }

    /// A JSON-RPC error response for request `id`.
    static func error(id: Any?, code: Int, message: String) -> Data {
        let o: [String: Any] = ["jsonrpc": "2.0", "id": id ?? NSNull(), "error": ["code": code, "message": message]]
        return (try? JSONSerialization.data(withJSONObject: o)) ?? Data()
    }

    /// A `tools/list` response with only the tools `keep` allows; JSON or a server-sent event stream of JSON messages.
    static func filterToolsList(_ body: Data, eventStream: Bool, keep: (String) -> Bool) -> Data {
        func filter(_ json: Data) -> Data? {
            guard var o = try? JSONSerialization.jsonObject(with: json) as? [String: Any], var result = o["result"] as? [String: Any],
                  let tools = result["tools"] as? [[String: Any]] else { return nil }
            result["tools"] = tools.filter { ($0["name"] as? String).map(keep) ?? false }
            o["result"] = result
            return try? JSONSerialization.data(withJSONObject: o)
        }
        guard eventStream else { return filter(body) ?? Data(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"the tool's tools/list response could not be read"}}"#.utf8) }
        // text/event-stream: rewrite each `data:` line that holds a tools/list result.
        let text = String(decoding: body, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("data:") else { return String(line) }
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            guard let f = filter(Data(payload.utf8)) else { return String(line) }
            return "data: " + String(decoding: f, as: UTF8.self)
        }
        return Data(lines.joined(separator: "\n").utf8)
    }
}

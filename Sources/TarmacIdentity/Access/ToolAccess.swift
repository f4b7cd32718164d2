import TarmacModel

/// What a call to a tool needs, from the contract: the scope of a route, and the one rule that both filters MCP's
/// `tools/list` and gates its `tools/call` (so what an agent is shown is exactly what it may call).
public enum ToolAccess {
    /// The scope a call needs: the first route whose path prefix (on a segment boundary) and method match; nil when
    /// none does (the call is refused).
    public static func scope(of tool: Tool, path: String, method: String) -> String? {
        let m = method.uppercased()
        for r in tool.routes where matches(prefix: r.path, path: path) && (r.methods.isEmpty || r.methods.contains(m)) {
            return r.scope
        }
        if let mcp = tool.mcp, matches(prefix: mcp.path, path: path) {
            // JSON-RPC on the MCP path: each method is judged by `mcp(...)`; reaching the endpoint needs any scope of its tools.
            return ""
        }
        return nil
    }

    public static func matches(prefix: String, path: String) -> Bool {
        let p = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        if prefix == "/" { return true }
        let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return p == trimmed || p.hasPrefix(trimmed + "/")
    }

    /// A JSON-RPC argument value as the rule sees it (strings, numbers and booleans compare by their text).
    public enum ArgumentValue: Sendable, Hashable {
        case text(String)
        case other
    }

    public enum Verdict: Sendable, Hashable {
        case allowed(scope: String)
        case refused(String)
    }

    /// The one rule for an MCP tool: listed (arguments nil) or called (with its arguments) only when the contract names
    /// it, the token carries its scope and, for a call, every constrained argument has an allowed value.
    public static func mcp(_ tool: Tool, name: String, arguments: [String: ArgumentValue]?, holds: (String) -> Bool) -> Verdict {
        guard let rule = tool.mcp?.tools[name] else { return .refused("tool '\(tool.name)' has no MCP tool '\(name)' in the platform contract") }
        guard holds(rule.scope) else { return .refused("MCP tool '\(name)' needs scope '\(rule.scope)' of '\(tool.name)'") }
        if let arguments {
            for (arg, allowed) in rule.arguments.sorted(by: { $0.key < $1.key }) {
                guard case .text(let v)? = arguments[arg] else {
                    return .refused("MCP tool '\(name)' must be called with argument '\(arg)' (one of \(allowed.joined(separator: ", ")))")
                }
                guard allowed.contains(v) else {
                    return .refused("argument '\(arg)' of MCP tool '\(name)' may be \(allowed.joined(separator: ", ")), not '\(v)'")
                }
            }
        }
        return .allowed(scope: rule.scope)
    }
}

import ArgumentParser
import Foundation

/// Where the CLI finds its servers and tokens: one context per server, as kubectl keeps contexts. `--server` /
/// `TARMAC_SERVER` and `TARMAC_TOKEN` win over the file (`TARMAC_CREDENTIALS`, else
/// `$XDG_CONFIG_HOME/tarmac/credentials.json`, else `~/.config/tarmac/credentials.json`, mode 0600). `tarmac up` adds a
/// context for its server on its first start; `tarmac login` adds or switches them.
struct Credentials: Codable {
    struct Context: Codable, Equatable {
        var server: String
        var token: String
    }

    var current: String?
    var contexts: [String: Context]

    init(current: String? = nil, contexts: [String: Context] = [:]) {
        self.current = current
        self.contexts = contexts
    }

    enum CodingKeys: String, CodingKey { case current, contexts, server, token }

    /// Reads this format, or the one-server file of earlier versions (`{"server", "token"}`), which becomes a context.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let contexts = try c.decodeIfPresent([String: Context].self, forKey: .contexts) {
            self.contexts = contexts
            current = try c.decodeIfPresent(String.self, forKey: .current)
        } else {
            let server = try c.decode(String.self, forKey: .server)
            let name = Self.name(forServer: server)
            contexts = [name: Context(server: server, token: try c.decode(String.self, forKey: .token))]
            current = name
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(current, forKey: .current)
        try c.encode(contexts, forKey: .contexts)
    }

    var currentContext: Context? { current.flatMap { contexts[$0] } }

    /// The context whose server is this URL (the current one first).
    func context(forServer url: String) -> Context? {
        let norm = { (s: String) in s.hasSuffix("/") ? String(s.dropLast()) : s }
        if let c = currentContext, norm(c.server) == norm(url) { return c }
        return contexts.keys.sorted().lazy.compactMap { contexts[$0] }.first { norm($0.server) == norm(url) }
    }

    /// A context's default name: the server's host and port (`127.0.0.1:8080`).
    static func name(forServer url: String) -> String {
        guard let u = URL(string: url), let host = u.host else { return url }
        return u.port.map { "\(host):\($0)" } ?? host
    }

    /// Adds a context. One with the same name and another token is kept under a new name (a second server at the same
    /// address never makes the first one's admin token disappear). Returns that new name, if any.
    mutating func add(_ name: String, _ context: Context, makeCurrent: Bool) -> String? {
        var moved: String?
        if let old = contexts[name], old != context {
            var n = 2
            while contexts["\(name)-\(n)"] != nil { n += 1 }
            contexts["\(name)-\(n)"] = old
            moved = "\(name)-\(n)"
        }
        contexts[name] = context
        if makeCurrent || current == nil || contexts[current!] == nil { current = name }
        return moved
    }

    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["TARMAC_CREDENTIALS"], !p.isEmpty { return p }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let config = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.config")
        return config + "/tarmac/credentials.json"
    }

    static func load() -> Credentials? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Credentials.self, from: $0) }
    }

    /// Writes the file with mode 0600 from the start (never readable by others, not even for a moment).
    func save() throws {
        let p = Self.path
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let tmp = p + ".tmp"
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(self)
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(tmp)")
        }
        guard rename(tmp, p) == 0 else { throw ValidationError("cannot write \(p)") }
    }
}

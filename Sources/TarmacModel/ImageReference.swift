/// A container image reference split the way registries and admission rules need it.
/// `python:3.12` is `docker.io/library/python:3.12`; `registry.acme.example/train:1.4.2` names its registry.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    public var registry: String
    public var repository: String
    public var tag: String?
    public var digest: String?
    public let original: String

    public init?(_ text: String) {
        original = text
        // References are ASCII: no spaces or control characters, no uppercase (one pass over the bytes).
        guard !text.isEmpty, !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || ($0 >= 0x41 && $0 <= 0x5A) }) else { return nil }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let d = rest[rest.index(after: at)...]
            guard d.hasPrefix("sha256:"), d.count == 71 else { return nil }
            digest = String(d)
            rest = rest[..<at]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        let first = parts[0]
        let hasRegistry = parts.count > 1 && (first.contains(".") || first.contains(":") || first == "localhost")
        registry = hasRegistry ? String(first) : "docker.io"
        var path = (hasRegistry ? parts.dropFirst() : parts[...]).joined(separator: "/")
        if let colon = path.lastIndex(of: ":") {
            let t = String(path[path.index(after: colon)...])
            guard !t.isEmpty, t.count <= 128 else { return nil }
            tag = t
            path = String(path[..<colon])
        }
        guard !path.isEmpty, !path.contains(":") else { return nil }
        if !hasRegistry && !path.contains("/") { path = "library/" + path }
        repository = path
    }

    public var isPinnedByDigest: Bool { digest != nil }
    /// `registry/repository`, the prefix that allow-lists match against.
    public var qualifiedName: String { registry + "/" + repository }
    public var description: String { original }

    /// Whether the image comes from an allowed registry entry: a registry host (`ghcr.io`) or a host with a path prefix (`ghcr.io/acme`).
    public func isAllowed(by entry: String) -> Bool {
        let e = entry.hasSuffix("/") ? String(entry.dropLast()) : entry
        return qualifiedName == e || qualifiedName.hasPrefix(e + "/") || registry == e
    }
}

/// A model reference `name@version`, for inference services.
public struct ModelReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public var name: String
    public var version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              DNSName.isLabel(String(parts[0])),
              parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") })
        else { return nil }
        name = String(parts[0])
        version = String(parts[1])
    }

    public var description: String { "\(name)@\(version)" }
}

/// Kubernetes naming rules.
public enum DNSName {
    /// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63 characters.
    public static func isLabel(_ s: String, maxLength: Int = 63) -> Bool {
        let u = s.utf8
        guard !u.isEmpty, u.count <= maxLength, let f = u.first, let l = u.last else { return false }
        func ok(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return ok(f) && ok(l) && u.allSatisfy { ok($0) || $0 == 0x2D }
    }
}

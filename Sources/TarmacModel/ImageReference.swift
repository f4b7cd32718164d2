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
        var bytes = text
        guard let parts = bytes.withUTF8({ Self.parse($0) }) else { return nil }
        (registry, repository, tag, digest) = parts
    }

    /// One pass over the bytes (references are ASCII): registry, repository, tag, digest.
    private static func parse(_ b: UnsafeBufferPointer<UInt8>) -> (String, String, String?, String?)? {
        let slash: UInt8 = 0x2F, colon: UInt8 = 0x3A
        // No spaces or control characters, nothing beyond ASCII, no uppercase.
        guard !b.isEmpty, !b.contains(where: { $0 <= 0x20 || $0 >= 0x7F || ($0 >= 0x41 && $0 <= 0x5A) }) else { return nil }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
        var end = b.count
        var digest: String?
        if let at = b.firstIndex(of: 0x40) {  // @
            let d = (at + 1)..<b.count
            guard d.count == 71, b[d].starts(with: "sha256:".utf8) else { return nil }
            digest = text(d)
            end = at
        }
        // Components between slashes, none empty.
        guard end > 0, b[0] != slash, b[end - 1] != slash else { return nil }
        var firstSlash: Int?
        for i in 1..<end where b[i] == slash {
            if b[i - 1] == slash { return nil }
            if firstSlash == nil { firstSlash = i }
        }
        let first = b[0..<(firstSlash ?? end)]
        let hasRegistry = firstSlash != nil && (first.contains(0x2E) || first.contains(colon) || first.elementsEqual("localhost".utf8))
        let registry = hasRegistry ? text(0..<firstSlash!) : "docker.io"
        let start = hasRegistry ? firstSlash! + 1 : 0
        var stop = end
        var tag: String?
        if let c = (start..<end).last(where: { b[$0] == colon }) {
            guard c + 1 < end, end - (c + 1) <= 128 else { return nil }
            tag = text((c + 1)..<end)
            stop = c
        }
        guard start < stop, !b[start..<stop].contains(colon) else { return nil }
        var repository = text(start..<stop)
        if !hasRegistry && !b[start..<stop].contains(slash) { repository = "library/" + repository }
        return (registry, repository, tag, digest)
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

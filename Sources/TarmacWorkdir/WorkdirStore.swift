import Foundation

/// Uploaded working directories on the control plane's disk, by content digest (`DIR/<hex>.tar`): written once,
/// checked (digest and archive) before they are kept, read by the pods' supervisors.
public struct WorkdirStore: Sendable {
    public let root: String
    public let limit: Int

    public init(root: String, limit: Int = WorkdirPacker.defaultLimit) throws {
        self.root = root
        self.limit = limit
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// `sha256:<64 hex>`, or nil.
    public static func hex(of digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let h = digest.dropFirst(7)
        guard h.count == 64, h.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        return String(h)
    }

    public func path(_ digest: String) -> String? { Self.hex(of: digest).map { root + "/" + $0 + ".tar" } }

    public func has(_ digest: String) -> Bool { path(digest).map { FileManager.default.fileExists(atPath: $0) } ?? false }

    public enum PutError: Error, CustomStringConvertible {
        case badDigest(String), mismatch(expected: String, got: String), invalid(String)
        public var description: String {
            switch self {
            case .badDigest(let d): "'\(d)' is not a content digest (sha256: and 64 lowercase hex digits)"
            case .mismatch(let e, let g): "the body's digest is \(g), not \(e)"
            case .invalid(let m): "the archive is not a working directory: \(m)"
            }
        }
    }

    /// Keeps an archive under its digest; returns false when it was already there.
    @discardableResult
    public func put(_ digest: String, _ data: Data) throws -> Bool {
        guard let target = path(digest) else { throw PutError.badDigest(digest) }
        let actual = WorkdirPacker.digest(of: data)
        guard actual == digest else { throw PutError.mismatch(expected: digest, got: actual) }
        if FileManager.default.fileExists(atPath: target) { return false }
        do { _ = try TarArchive.read(data, limit: limit) } catch { throw PutError.invalid("\(error)") }
        let tmp = target + ".\(UUID().uuidString).tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw PutError.invalid("cannot write \(tmp)")
        }
        guard rename(tmp, target) == 0 else { throw PutError.invalid("cannot write \(target)") }
        return true
    }
}

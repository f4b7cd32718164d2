import Crypto
import Foundation

/// Every file of a model version with its SHA-256 and size, as OpenSSF model-signing's manifest lists them: what a
/// signature covers and what is checked again where the model is loaded. Its canonical bytes (`canonical`) are what a
/// signer signs (`tarmac model manifest DIR > manifest.json`, then `openssl dgst -sha256 -sign KEY manifest.json` or
/// `cosign sign-blob --key KEY manifest.json`).
public struct ModelManifest: Sendable, Hashable, Codable {
    public struct File: Sendable, Hashable, Codable {
        /// Relative to the model's root, with `/`.
        public var path: String
        /// Lowercase hex.
        public var sha256: String
        public var size: Int64
        public init(path: String, sha256: String, size: Int64) {
            self.path = path
            self.sha256 = sha256
            self.size = size
        }
    }

    public static let formatVersion = 1

    /// Sorted by path (bytewise), each path once.
    public private(set) var files: [File]
    public var version: Int

    public init(files: [File]) {
        self.files = files.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        version = Self.formatVersion
    }

    /// The bytes signed and compared: JSON with sorted keys, no spaces, slashes unescaped, one line feed at the end.
    public var canonical: Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var d = (try? e.encode(self)) ?? Data()
        d.append(0x0A)
        return d
    }

    /// The manifest's own digest (`sha256:` + hex of `canonical`): how a version is named by its content.
    public var digest: String { "sha256:" + Self.hex(SHA256.hash(data: canonical)) }

    public var totalBytes: Int64 { files.reduce(0) { $0 + $1.size } }

    /// Reads a manifest given as canonical JSON (what `canonical` wrote), refusing anything else: a signature covers
    /// exactly these bytes, so a reformatted manifest is another manifest.
    public static func read(canonical data: Data) throws -> ModelManifest {
        let m = try JSONDecoder().decode(ModelManifest.self, from: data)
        guard m.canonical == data else { throw ManifestProblem.notCanonical }
        guard Set(m.files.map(\.path)).count == m.files.count else { throw ManifestProblem.duplicatePath }
        return m
    }

    /// What differs between the files as registered and the files found now: changed, missing or extra paths.
    public func differences(from found: ModelManifest) -> [String] {
        let mine = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(found.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [String] = []
        for f in files {
            guard let g = theirs[f.path] else { out.append("\(f.path): missing"); continue }
            if g.sha256 != f.sha256 || g.size != f.size { out.append("\(f.path): changed (sha256 \(g.sha256.prefix(12))…, registered \(f.sha256.prefix(12))…)") }
        }
        for g in found.files where mine[g.path] == nil { out.append("\(g.path): not in the registered manifest") }
        return out
    }

    static func hex(_ d: some Sequence<UInt8>) -> String { d.map { String(format: "%02x", $0) }.joined() }
}

public enum ManifestProblem: Error, Sendable, Hashable, CustomStringConvertible {
    case notCanonical
    case duplicatePath
    case unreadable(String)
    case notAFile(String)

    public var description: String {
        switch self {
        case .notCanonical: "the manifest is not in its canonical form (sorted keys, no spaces, as `tarmac model manifest` writes it): a signature covers exact bytes"
        case .duplicatePath: "the manifest names a file twice"
        case .unreadable(let p): "\(p) cannot be read"
        case .notAFile(let p): "\(p) is neither a regular file nor a directory (links and devices are not part of a model)"
        }
    }
}

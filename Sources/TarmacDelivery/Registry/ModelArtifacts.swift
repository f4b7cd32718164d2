import Crypto
import Foundation

/// Model files kept by Tarmac under the data directory, each once per team, by the SHA-256 of its bytes
/// (`ROOT/TEAM/ab/abcd…`, `team(_:)`): a version is its manifest, and a new version that shares files with an older one
/// of the team (a fine-tune that changed one shard) sends only what is new. A file is written to a temporary name while it is hashed, and kept under its digest only when
/// the bytes received have that digest; nothing half-written is ever found under a digest.
public struct ModelArtifacts: Sendable {
    public let root: String
    /// The largest single file accepted.
    public let fileLimit: Int64

    /// 64 GiB: larger than any one shard of the safetensors and GGUF files models are published in.
    public static let defaultFileLimit: Int64 = 64 << 30

    public init(root: String, fileLimit: Int64 = defaultFileLimit) throws {
        self.root = root
        self.fileLimit = fileLimit
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// The 64 lowercase hex digits of `sha256:<hex>` (or of a bare hex digest), or nil.
    public static func hex(of digest: String) -> String? {
        let h = digest.hasPrefix("sha256:") ? digest.dropFirst(7) : Substring(digest)
        guard h.utf8.count == 64, h.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return String(h)
    }

    public func path(_ digest: String) -> String? {
        Self.hex(of: digest).map { root + "/" + $0.prefix(2) + "/" + $0 }
    }

    /// One team's files (`ROOT/TEAM/ab/abcd…`): files are shared only within a team, so a digest learnt elsewhere neither
    /// tells whether another team keeps those bytes nor lets anyone register (and serve) bytes they never sent.
    public func team(_ team: String) throws -> ModelArtifacts {
        guard !team.isEmpty, !team.contains("/"), team != ".", team != ".." else { throw Refusal.io("'\(team)' is not a team name") }
        return try ModelArtifacts(root: root + "/" + team, fileLimit: fileLimit)
    }

    public func has(_ digest: String) -> Bool { path(digest).map { FileManager.default.fileExists(atPath: $0) } ?? false }

    /// The manifest's files not kept here yet, each once (by digest).
    public func missing(_ manifest: ModelManifest) -> [ModelManifest.File] {
        var seen: Set<String> = []
        return manifest.files.filter { seen.insert($0.sha256).inserted && !has($0.sha256) }
    }

    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case badDigest(String)
        case tooLarge(limit: Int64)
        case mismatch(expected: String, got: String, bytes: Int64)
        case io(String)

        public var description: String {
            switch self {
            case .badDigest(let d): "'\(d)' is not a content digest (sha256: and 64 lowercase hex digits)"
            case .tooLarge(let l): "a model file may be at most \(l >> 30) GiB here (tarmac up --model-file-limit)"
            case .mismatch(let e, let g, let n): "the \(n) bytes received have digest sha256:\(g), not \(e): the file changed while it was sent, or the transfer was cut"
            case .io(let m): m
            }
        }
    }

    /// Starts receiving the file with `digest`.
    public func receive(_ digest: String) throws -> Upload {
        guard let hex = Self.hex(of: digest), let target = path(digest) else { throw Refusal.badDigest(digest) }
        let dir = (target as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let tmp = target + ".\(UUID().uuidString).part"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refusal.io("cannot write under \(dir): \(String(cString: strerror(errno)))") }
        return Upload(expected: hex, target: target, temporary: tmp, fd: fd, limit: fileLimit)
    }

    /// One file being received: hashed as it is written; `finish` keeps it only if its digest is the one announced.
    public struct Upload: ~Copyable {
        let expected: String
        let target: String
        let temporary: String
        let fd: Int32
        let limit: Int64
        var hasher = SHA256()
        public private(set) var bytes: Int64 = 0

        init(expected: String, target: String, temporary: String, fd: Int32, limit: Int64) {
            self.expected = expected
            self.target = target
            self.temporary = temporary
            self.fd = fd
            self.limit = limit
        }

        public mutating func write(_ chunk: UnsafeRawBufferPointer) throws {
            bytes += Int64(chunk.count)
            guard bytes <= limit else { throw Refusal.tooLarge(limit: limit) }
            hasher.update(bufferPointer: chunk)
            var off = 0
            while off < chunk.count {
                let n = Foundation.write(fd, chunk.baseAddress! + off, chunk.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Refusal.io("cannot write a model file: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }

        /// Keeps the file under its digest when the bytes match (true: it is new; false: it was there already).
        public consuming func finish() throws -> Bool {
            let got = ModelManifest.hex(hasher.finalize())
            defer { close(fd); unlink(temporary) }
            guard got == expected else { throw Refusal.mismatch(expected: "sha256:" + expected, got: got, bytes: bytes) }
            guard fsync(fd) == 0 else { throw Refusal.io("cannot write a model file: \(String(cString: strerror(errno)))") }
            if FileManager.default.fileExists(atPath: target) { return false }
            guard rename(temporary, target) == 0 else { throw Refusal.io("cannot keep a model file: \(String(cString: strerror(errno)))") }
            chmod(target, 0o400)
            return true
        }

        /// Drops what was received (the transfer failed).
        public consuming func abandon() {
            close(fd)
            unlink(temporary)
        }
    }

    /// Lays the manifest's files out under `directory` (hard links to the kept files where the file system allows, copies
    /// otherwise), for a model server to read as an ordinary directory.
    public func materialize(_ manifest: ModelManifest, into directory: String) throws {
        let fm = FileManager.default
        for f in manifest.files {
            guard let source = path(f.sha256), fm.fileExists(atPath: source) else { throw Refusal.io("\(f.path) (\(f.sha256.prefix(12))…) is not kept here") }
            guard !f.path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }), !f.path.hasPrefix("/") else {
                throw Refusal.io("\(f.path) is not a relative path inside the model")
            }
            let dest = directory + "/" + f.path
            try fm.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if link(source, dest) != 0 { try fm.copyItem(atPath: source, toPath: dest) }
        }
    }
}

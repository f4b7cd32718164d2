import TarmacCore
import Foundation

/// The head of the audit chain written down outside the store (a file, one JSON object per line, and the log). A
/// chain verifies on its own against edits, insertions and removals inside it, but not against its tail being cut off
/// or the whole chain rewritten from some record on by someone who can write the store: an anchor taken earlier catches
/// both, as long as the anchor file is out of their reach (put it on another disk or ship the log lines elsewhere).
public struct AuditAnchor: Codable, Sendable, Hashable {
    public var seq: Int64
    public var hash: String
    public var time: Date

    public init(seq: Int64, hash: String, time: Date) {
        self.seq = seq
        self.hash = hash
        self.time = time
    }

    /// The anchor file of a data directory, unless another is named.
    public static func defaultPath(data: String) -> String { data + "/audit-anchors.jsonl" }

    /// Appends one anchor (a line of JSON) and syncs it to disk. The file is created with mode 0600.
    public static func append(_ a: AuditAnchor, to path: String) throws {
        var line = try StoredJSON.encoder.encode(a)
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        fsync(fd)
    }

    /// Every anchor in a file (none when it does not exist). A line that is not an anchor is an error: the file is
    /// evidence, and a damaged one must be noticed.
    public static func read(_ path: String) throws -> [AuditAnchor] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var out: [AuditAnchor] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: true).enumerated() {
            do { out.append(try StoredJSON.decoder.decode(AuditAnchor.self, from: Data(line))) } catch {
                throw RuntimeError(.invalid, "\(path):\(i + 1): not an audit anchor")
            }
        }
        return out
    }
}

import Crypto
import Foundation

/// A working directory packed for upload: a deterministic archive of what its ignore files let through, and its
/// content digest (`sha256:...`), so an unchanged directory is recognised and not sent twice.
public struct PackedWorkdir: Sendable {
    public var archive: Data
    public var digest: String
    public var files: Int
    public var bytes: Int
    /// Symbolic links and other special files that were left out.
    public var skipped: [String]
}

public enum WorkdirPacker {
    /// The largest working directory accepted (its files' total size), unless told otherwise.
    public static let defaultLimit = 64 << 20

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func pack(_ directory: String, limit: Int = defaultLimit) throws -> PackedWorkdir {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw Failure(description: "the working directory \(directory) does not exist or is not a directory")
        }
        let rules = IgnoreRules.load(from: directory)
        var entries: [TarArchive.Entry] = []
        var skipped: [String] = []
        var sizes: [(String, Int)] = []
        var total = 0
        func walk(_ relative: String) throws {
            let full = relative.isEmpty ? directory : directory + "/" + relative
            for name in try fm.contentsOfDirectory(atPath: full).sorted() {
                let rel = relative.isEmpty ? name : relative + "/" + name
                let path = directory + "/" + rel
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                if kind == S_IFDIR {
                    if rules.ignores(rel, isDirectory: true) { continue }
                    entries.append(TarArchive.Entry(path: rel, isDirectory: true))
                    try walk(rel)
                } else if kind == S_IFREG {
                    if rules.ignores(rel, isDirectory: false) { continue }
                    let size = Int(st.st_size)
                    total += size
                    sizes.append((rel, size))
                    if total > limit {
                        let top = sizes.sorted { $0.1 > $1.1 }.prefix(5).map { "\($0.0) (\(mib($0.1)))" }.joined(separator: ", ")
                        throw Failure(description: "the working directory \(directory) is larger than \(mib(limit)) (largest files: \(top)); leave out data and build outputs with a .tarmacignore (same syntax as .gitignore) and read datasets from spec.datasets")
                    }
                    guard let data = fm.contents(atPath: path) else { throw Failure(description: "cannot read \(path)") }
                    entries.append(TarArchive.Entry(path: rel, isDirectory: false, executable: st.st_mode & 0o111 != 0, contents: data))
                } else if !rules.ignores(rel, isDirectory: false) {
                    skipped.append(rel)
                }
            }
        }
        try walk("")
        let archive: Data
        do { archive = try TarArchive.write(entries) } catch { throw Failure(description: "\(error)") }
        return PackedWorkdir(archive: archive, digest: digest(of: archive), files: entries.filter { !$0.isDirectory }.count, bytes: total,
                             skipped: skipped)
    }

    public static func digest(of archive: Data) -> String {
        "sha256:" + SHA256.hash(data: archive).map { String(format: "%02x", $0) }.joined()
    }

    static func mib(_ n: Int) -> String {
        n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / 1_048_576) : String(format: "%.1f KiB", Double(n) / 1024)
    }
}

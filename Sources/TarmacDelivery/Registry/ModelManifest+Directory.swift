import Crypto
import Foundation

extension ModelManifest {
    /// The manifest of a directory on this machine: every regular file under it, hashed as it is streamed (a model of
    /// many GiB is never held in memory). Symbolic links and special files are refused: what is served must be what
    /// was hashed.
    public static func of(directory root: String) throws -> ModelManifest {
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { throw ManifestProblem.unreadable(root) }
        var files: [File] = []
        while let rel = walker.nextObject() as? String {
            let path = base + "/" + rel
            var st = stat()
            guard lstat(path, &st) == 0 else { throw ManifestProblem.unreadable(path) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFREG: files.append(try file(path, relative: rel))
            default: throw ManifestProblem.notAFile(rel)
            }
        }
        return ModelManifest(files: files)
    }

    static func file(_ path: String, relative: String) throws -> File {
        guard let h = FileHandle(forReadingAtPath: path) else { throw ManifestProblem.unreadable(path) }
        defer { try? h.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return File(path: relative, sha256: hex(hasher.finalize()), size: size)
    }
}

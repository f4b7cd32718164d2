import Foundation
import PropertyBased
import TarmacTesting
import TarmacWorkdir
import Testing

@Suite struct WorkdirTests {
    /// What is written is read back: paths, kinds, files' modes, contents.
    @Test func anArchiveReadsBackAsWritten() async {
        let names = ["a", "b.py", "data", "x y", "ü", "deep"]
        await propertyCheck(input: Gen.int(in: 0...12), Gen.uint64(in: 0...UInt64.max)) { count, seed in
            var rng = SeededGenerator(seed: seed)
            var entries: [TarArchive.Entry] = [], used = Set<String>()
            for _ in 0..<count {
                let dir = "dir\(rng.int(3))"
                if used.insert(dir).inserted { entries.append(TarArchive.Entry(path: dir, isDirectory: true)) }
                let path = dir + "/" + rng.pick(names) + String(rng.int(1000))
                guard used.insert(path).inserted else { continue }
                let bytes = (0..<rng.int(2000)).map { _ in UInt8(rng.int(256)) }
                entries.append(TarArchive.Entry(path: path, isDirectory: false, executable: rng.int(2) == 1, contents: Data(bytes)))
            }
            let archive = try TarArchive.write(entries)
            let read = try TarArchive.read(archive, limit: 1 << 30)
            // In a fixed order (by path), whatever order they were given in: the same files make the same archive.
            #expect(read.map(\.path) == entries.map(\.path).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            let written = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
            for r in read {
                let w = written[r.path]
                #expect(w?.contents == r.contents && w?.isDirectory == r.isDirectory, "\(r.path)")
                // A file keeps its executable bit (directories are always searchable).
                if !r.isDirectory { #expect(w?.executable == r.executable, "\(r.path)") }
            }
        }
    }

    /// The same files give the same archive and digest (no times, owners or order of the file system in it); ignored
    /// files are left out; a change of one byte is a new digest.
    @Test func packingIsDeterministicAndHonoursIgnoreRules() throws {
        let dir = try TemporaryDirectory()
        try dir.write("train.py", "print('hi')\n")
        try dir.write("lib/util.py", "X = 1\n")
        try dir.write(".gitignore", "*.pyc\ncache/\n")
        try dir.write("lib/util.pyc", "compiled")
        try dir.write("cache/big.bin", "0123456789")
        let first = try WorkdirPacker.pack(dir.path)
        let second = try WorkdirPacker.pack(dir.path)
        #expect(first.digest == second.digest && first.archive == second.archive)
        #expect(first.digest == WorkdirPacker.digest(of: first.archive))
        let paths = try TarArchive.read(first.archive, limit: 1 << 20).map(\.path)
        #expect(paths.contains("train.py") && paths.contains("lib/util.py"), "\(paths)")
        #expect(!paths.contains { $0.hasSuffix(".pyc") || $0.hasPrefix("cache") }, "\(paths)")
        try dir.write("train.py", "print('ho')\n")
        #expect(try WorkdirPacker.pack(dir.path).digest != first.digest)
    }

    /// The store keeps an archive only under its own digest, and only once.
    @Test func theStoreChecksTheDigestAndKeepsOneCopy() throws {
        let dir = try TemporaryDirectory()
        try dir.write("w/main.py", "print(1)\n")
        let packed = try WorkdirPacker.pack(dir.path + "/w")
        let store = try WorkdirStore(root: dir.path + "/store")
        #expect(throws: WorkdirStore.PutError.self) { try store.put("sha256:" + String(repeating: "0", count: 64), packed.archive) }
        #expect(throws: WorkdirStore.PutError.self) { try store.put("md5:abc", packed.archive) }
        #expect(!store.has(packed.digest))
        #expect(try store.put(packed.digest, packed.archive))
        #expect(store.has(packed.digest))
        #expect(try store.put(packed.digest, packed.archive) == false, "a second upload of the same archive is not written again")
    }
}

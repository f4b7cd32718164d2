import TarmacCore
import Foundation
import Testing
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// The audit chain is exact for any text: every field round-trips byte for byte through the real SQLite store, the
/// chain verifies, an edit to any record is still found, every bad record is reported, and a cut-off tail is found
/// against an anchor.
@Suite struct AuditBytesTests {
    /// Text that SQLite's C API, a terminal or a line-based reader could mangle.
    static let hostile: [String] = [
        "a\u{0}b", "\u{0}", "line\r\nbreak", "cr\ronly", "lf\nonly", "tab\tand\u{1B}[31mescape",
        String(decoding: [0x61, 0xC3, 0x28, 0xFF, 0xFE, 0xED, 0xA0, 0x80, 0x62], as: UTF8.self),  // invalid UTF-8, as a log line decodes it
        "\u{FEFF}bom \u{2028}ls \u{2029}ps \u{85}nel", "emoji 🚀 and \u{301}combining", "",
        String(repeating: "x\u{0}y\n", count: (1 << 20) / 4),  // 1 MiB with NUL and newlines throughout
    ]

    static func draft(_ i: Int, _ text: String) -> AuditDraft {
        AuditDraft(time: Date(timeIntervalSince1970: 1_700_000_000 + Double(i)), actor: AuditActor(kind: .user, id: "user\(text)"),
                   action: "act\(text)", object: "workload/\(text)", before: "before\(text)", after: "after\(text)", detail: text)
    }

    @Test func everyFieldRoundTripsAndTheChainVerifies() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/t.db")
        let drafts = Self.hostile.enumerated().map { Self.draft($0.offset, $0.element) }
        for d in drafts { try await store.appendAudit([d]) }
        let records = try await SQLiteStore(path: dir.path + "/t.db").auditRecords(since: nil, limit: nil)
        #expect(records.count == drafts.count)
        // Compared as booleans: a failure must not print megabytes of text.
        for (r, d) in zip(records, drafts) {
            let fields: [(String, String, String)] = [("actorID", r.actorID, d.actor.id), ("action", r.action, d.action), ("object", r.object, d.object),
                                                      ("before", r.before, d.before), ("after", r.after, d.after), ("detail", r.detail, d.detail)]
            for (name, got, sent) in fields {
                let same = Array(got.utf8) == Array(sent.utf8)
                #expect(same, "\(name) of record \(r.seq) changed on its way through SQLite: \(got.utf8.count) bytes back of \(sent.utf8.count)")
            }
            #expect(r.computedHash == r.hash)
        }
        let v = AuditChain.verify(records)
        #expect(v.ok, "\(v.problems)")
        #expect(try await store.auditHead()?.seq == Int64(drafts.count))
    }

    /// The hash is SHA-256 over "LEN:FIELD;" for each field (lengths in UTF-8 bytes), so chains written by earlier
    /// versions still verify. The expected value was computed outside Swift (Python's hashlib over the same format).
    @Test func theHashOfARecordIsTheDocumentedFormat() {
        let r = AuditRecord(seq: 7, timeMillis: 1_700_000_000_123, actorKind: "user", actorID: "dan@acme.example", action: "submit",
                            object: "workload/é\u{0}x", before: "", after: "abc", detail: "detail 🚀", previousHash: AuditRecord.genesis, hash: "")
        #expect(r.computedHash == "6e90216bc383fe1d3e0778c7bec680cc743a129ea74906c98eccd9cb7481b103")
    }

    @Test func anEditToAnyRecordIsFoundAndEveryBadRecordIsReported() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/t.db")
        for (i, t) in Self.hostile.enumerated() { try await store.appendAudit([Self.draft(i, t)]) }
        let records = try await store.auditRecords(since: nil, limit: nil)
        // Each field of each record, changed by one byte: found, at that record.
        let fields: [WritableKeyPath<AuditRecord, String>] = [\.actorKind, \.actorID, \.action, \.object, \.before, \.after, \.detail, \.previousHash]
        for i in records.indices {
            for f in fields {
                var c = records
                c[i][keyPath: f] += "\u{0}"
                let v = AuditChain.verify(c)
                #expect(!v.ok && v.firstBad == c[i].seq, "an edit of record \(c[i].seq) went unnoticed")
            }
        }
        // Two edited records and a missing one: all three reported, the later ones not hidden by the first.
        var c = records
        c[1].detail = "changed"
        c.remove(at: 4)
        c[7].object = "moved"
        let v = AuditChain.verify(c)
        #expect(v.problems.map(\.seq) == [2, 6, records[8].seq], "\(v.problems)")
        #expect(v.problems[1].message.contains("record 5 is missing"))
    }

    @Test func theStoreFileEditedBehindItsBackIsFound() async throws {
        guard let sqlite = Run.which("sqlite3") else {
            Issue.record("sqlite3 is needed to edit the store behind its back (.ci/run installs it)")
            return
        }
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/t.db")
        for (i, t) in Self.hostile.prefix(6).enumerated() { try await store.appendAudit([Self.draft(i, t)]) }
        let edit = try Run.program(sqlite, [dir.path + "/t.db", "UPDATE audit SET detail = CAST('a' AS BLOB) WHERE seq = 1"])
        #expect(edit.status == 0, "\(edit.stderr)")
        let v = AuditChain.verify(try await store.auditRecords(since: nil, limit: nil))
        #expect(!v.ok && v.firstBad == 1, "\(v.problems)")
    }

    @Test func aCutOffTailIsFoundAgainstTheAnchor() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/t.db")
        let anchors = dir.path + "/anchors.jsonl"
        let service = AuditAnchorService(store: store, path: anchors)
        #expect(await service.anchor(after: nil) == nil, "no anchor for an empty chain")
        for i in 0..<3 { try await store.appendAudit([Self.draft(i, "r\(i)")]) }
        #expect(await service.anchor(after: nil) == 3)
        #expect(await service.anchor(after: 3) == 3, "no new anchor while the head has not moved")
        for i in 3..<6 { try await store.appendAudit([Self.draft(i, "r\(i)")]) }
        #expect(await service.anchor(after: 3) == 6)
        let written = try AuditAnchor.read(anchors)
        #expect(written.map(\.seq) == [3, 6])

        var records = try await store.auditRecords(since: nil, limit: nil)
        #expect(AuditChain.verify(records, anchors: written).ok)
        // The last two records removed: the chain alone still verifies, the anchor does not.
        records.removeLast(2)
        #expect(AuditChain.verify(records).ok)
        let v = AuditChain.verify(records, anchors: written)
        #expect(!v.ok && v.problem?.contains("records 5-6 were removed from its end") == true, "\(v.problems)")
        // The chain rewritten from record 2 on, consistently: it verifies alone, but not against the anchors.
        var rewritten = Array(records.prefix(1))
        for i in 1..<6 {
            rewritten.append(AuditRecord(seq: Int64(i + 1), draft: Self.draft(i, "forged\(i)"), previousHash: rewritten.last!.hash))
        }
        #expect(AuditChain.verify(rewritten).ok)
        let forged = AuditChain.verify(rewritten, anchors: written)
        #expect(forged.problems.map(\.seq) == [3, 6], "\(forged.problems)")
        // A damaged anchor file is an error, not an empty list.
        try "not json\n".write(toFile: anchors, atomically: true, encoding: .utf8)
        #expect(throws: RuntimeError.self) { try AuditAnchor.read(anchors) }
    }
}

/// Verifies an audit chain: every record's hash matches its content, points at the record before it, and the sequence
/// numbers run 1, 2, 3... without a gap. Any edited, deleted, inserted or reordered record breaks one of those.
public enum AuditChain {
    public struct Verification: Codable, Sendable, Hashable {
        public var ok: Bool
        public var records: Int
        /// The hash of the last record: write it down somewhere else to detect a rewrite of the whole tail.
        public var head: String
        /// The first bad record (its sequence number as stored) and what is wrong with it.
        public var firstBad: Int64?
        public var problem: String?
    }

    public static func verify(_ records: [AuditRecord]) -> Verification {
        var previous = AuditRecord.genesis
        var expected: Int64 = 1
        for r in records {
            func bad(_ p: String) -> Verification {
                Verification(ok: false, records: records.count, head: records.last?.hash ?? AuditRecord.genesis, firstBad: r.seq, problem: p)
            }
            if r.seq != expected {
                return bad(r.seq > expected
                    ? "record \(r.seq) follows record \(expected - 1): record\(r.seq - expected > 1 ? "s \(expected)-\(r.seq - 1) are" : " \(expected) is") missing"
                    : "record \(r.seq) appears after record \(expected - 1): records are out of order or duplicated")
            }
            if r.computedHash != r.hash {
                return bad("record \(r.seq) (\(r.action) \(r.object)) was changed after it was written: its content does not match its hash")
            }
            if r.previousHash != previous {
                return bad("record \(r.seq) does not point at the record before it: a record was inserted, removed or rewritten")
            }
            previous = r.hash
            expected += 1
        }
        return Verification(ok: true, records: records.count, head: previous, firstBad: nil, problem: nil)
    }
}

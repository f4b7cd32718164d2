import TarmacCore
import Foundation
import TarmacAPI

/// Verifies an audit chain: every record's hash matches its content, points at the record before it, and the sequence
/// numbers run 1, 2, 3... without a gap. Any edited, deleted, inserted or reordered record breaks one of those. The
/// verifier goes on past a bad record and reports every one, so one broken record cannot hide a later one. Anchors
/// (head hashes written down outside the store) catch what the chain alone cannot: a tail cut off, or a chain rewritten
/// from some record on.
public enum AuditChain {
    /// One bad record, or one anchor the chain no longer matches.
    public typealias Problem = AuditVerification.Problem
    /// What the check found (the API's wire type).
    public typealias Verification = AuditVerification

    public static func verify(_ records: [AuditRecord], anchors: [AuditAnchor] = []) -> Verification {
        var problems: [Problem] = []
        var previous = AuditRecord.genesis
        var expected: Int64 = 1
        for r in records {
            var gap = false
            if r.seq > expected {
                problems.append(Problem(seq: r.seq, message: "record \(r.seq) follows record \(expected - 1): record\(r.seq - expected > 1 ? "s \(expected)-\(r.seq - 1) are" : " \(expected) is") missing"))
                gap = true
            } else if r.seq < expected {
                problems.append(Problem(seq: r.seq, message: "record \(r.seq) appears after record \(expected - 1): records are out of order or duplicated"))
                gap = true
            }
            if r.computedHash != r.hash {
                problems.append(Problem(seq: r.seq, message: "record \(r.seq) (\(printable(r.action)) \(printable(r.object))) was changed after it was written: its content does not match its hash"))
            } else if r.previousHash != previous && !gap {
                problems.append(Problem(seq: r.seq, message: "record \(r.seq) does not point at the record before it: a record was inserted, removed or rewritten"))
            }
            previous = r.hash
            expected = max(expected, r.seq) + 1
        }
        let bySeq = Dictionary(records.map { ($0.seq, $0.hash) }, uniquingKeysWith: { a, _ in a })
        let last = records.last?.seq ?? 0
        for a in anchors {
            let when = ISO8601DateFormatter().string(from: a.time)
            if a.seq > last {
                problems.append(Problem(seq: a.seq, message: "the anchor written at \(when) saw record \(a.seq), but the chain ends at record \(last): record\(a.seq - last > 1 ? "s \(last + 1)-\(a.seq) were" : " \(a.seq) was") removed from its end"))
            } else if let h = bySeq[a.seq], h != a.hash {
                problems.append(Problem(seq: a.seq, message: "record \(a.seq) is not the one anchored at \(when) (hash \(a.hash.prefix(12))…): the chain was rewritten from there or before"))
            }
        }
        return Verification(ok: problems.isEmpty, records: records.count, head: records.last?.hash ?? AuditRecord.genesis,
                            firstBad: problems.first?.seq, problem: problems.first?.message, problems: problems, anchorsChecked: anchors.count)
    }

    /// A field as it may be shown in a one-line message.
    static func printable(_ s: String) -> String {
        String(s.prefix(80).unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }
}

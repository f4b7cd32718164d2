import Foundation
import TarmacManifests

/// Where a live object differs from what Tarmac renders. Only the fields Tarmac sets are compared (the server's defaults
/// and other managers' fields are not drift); metadata is compared for labels and annotations only. Pure.
public enum Drift {
    public static func differences(desired: KubeObject, live: [String: Any]) -> [String] {
        var out: [String] = []
        let meta = live["metadata"] as? [String: Any] ?? [:]
        compare(.stringMap(desired.labels), meta["labels"] ?? [String: Any](), "metadata.labels", &out)
        compare(.stringMap(desired.annotations), meta["annotations"] ?? [String: Any](), "metadata.annotations", &out)
        for (k, v) in desired.body.sorted(by: { $0.key < $1.key }) { compare(v, live[k], k, &out) }
        return out
    }

    static func compare(_ want: KValue, _ have: Any?, _ path: String, _ out: inout [String]) {
        // The API server omits zero values (`omitempty`): a false, 0, "" or empty list or object Tarmac sets reads back
        // as missing, which is the same value, not drift.
        if have == nil || have is NSNull, isZero(want) { return }
        switch want {
        case .object(let o):
            guard let h = have as? [String: Any] else {
                out.append("\(path): missing")
                return
            }
            for (k, v) in o.sorted(by: { $0.key < $1.key }) { compare(v, h[k], path + "." + k, &out) }
        case .list(let l):
            guard let h = have as? [Any] else {
                out.append("\(path): missing")
                return
            }
            guard h.count == l.count else {
                out.append("\(path): \(h.count) item\(h.count == 1 ? "" : "s"), want \(l.count)")
                return
            }
            for (i, v) in l.enumerated() { compare(v, h[i], "\(path)[\(i)]", &out) }
        case .string(let s):
            if have as? String != s { out.append("\(path): \(show(have)), want \(s)") }
        case .bool(let b):
            if have as? Bool != b { out.append("\(path): \(show(have)), want \(b)") }
        case .int(let i):
            if (have as? Int) != i && (have as? Double) != Double(i) { out.append("\(path): \(show(have)), want \(i)") }
        case .double(let d):
            if (have as? Double) != d { out.append("\(path): \(show(have)), want \(d)") }
        }
    }

    static func isZero(_ v: KValue) -> Bool {
        switch v {
        case .bool(let b): !b
        case .int(let i): i == 0
        case .double(let d): d == 0
        case .string(let s): s.isEmpty
        case .list(let l): l.isEmpty
        case .object(let o): o.isEmpty
        }
    }

    static func show(_ v: Any?) -> String {
        guard let v else { return "missing" }
        if let s = v as? String { return s }
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) { return String(decoding: d, as: UTF8.self) }
        return "\(v)"
    }
}

import Foundation

/// How stored JSON is written (every store's bodies, audit anchors, rollouts): keys sorted, times as milliseconds since
/// 1970, and read back the same way. One definition, so that the SQLite and PostgreSQL stores write the same bytes.
public enum StoredJSON {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .millisecondsSince1970
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()
}

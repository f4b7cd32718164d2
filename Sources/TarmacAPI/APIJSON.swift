import Foundation

/// How the API writes and reads JSON: sorted keys, unescaped slashes, RFC 3339 times with milliseconds (lifecycle
/// timestamps are finer than a second). Clients also accept times without the fraction.
public enum APIJSON {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            if let d = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(s) { return d }
            return try Date.ISO8601FormatStyle().parse(s)
        }
        return d
    }()
}

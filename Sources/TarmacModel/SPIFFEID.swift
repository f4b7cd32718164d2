/// A SPIFFE ID, `spiffe://TRUST-DOMAIN/PATH`, as the SPIFFE ID specification defines it: a trust domain of lowercase
/// letters, digits, `.`, `-` and `_`; path segments of letters, digits, `.`, `-` and `_`, none empty, `.` or `..`;
/// at most 2,048 bytes in all. A workload's is `spiffe://TRUST-DOMAIN/team/TEAM/env/ENV/KIND/NAME`.
public struct SPIFFEID: Hashable, Sendable, CustomStringConvertible {
    public let trustDomain: String
    public let segments: [String]

    public init?(trustDomain: String, segments: [String]) {
        guard Self.isTrustDomain(trustDomain), segments.allSatisfy(Self.isSegment) else { return nil }
        self.trustDomain = trustDomain
        self.segments = segments
        guard description.utf8.count <= 2048 else { return nil }
    }

    /// Parses `spiffe://td/a/b`; nil for anything the specification does not allow (query, fragment, port, user info,
    /// uppercase trust domain, empty or dot segments, a trailing slash).
    public init?(_ text: String) {
        guard text.hasPrefix("spiffe://") else { return nil }
        let rest = text.dropFirst("spiffe://".count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let td = parts.first else { return nil }
        self.init(trustDomain: td, segments: Array(parts.dropFirst()))
    }

    /// The ID of a workload's pods.
    public static func workload(trustDomain: String, team: String, env: String, kind: String, name: String) -> SPIFFEID? {
        SPIFFEID(trustDomain: trustDomain, segments: ["team", team, "env", env, kind.lowercased(), name])
    }

    /// A trust domain made from a platform's name: lowercased, any character SPIFFE does not allow replaced by `-`.
    public static func trustDomain(forPlatform name: String) -> String {
        let mapped = String(String.UnicodeScalarView(name.lowercased().unicodeScalars.map { u in
            (u >= "a" && u <= "z") || (u >= "0" && u <= "9") || u == "." || u == "-" || u == "_" ? u : "-"
        }))
        return mapped.isEmpty ? "tarmac" : mapped
    }

    public var description: String { "spiffe://" + trustDomain + segments.map { "/" + $0 }.joined() }

    static func isTrustDomain(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
    }

    static func isSegment(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".."
            && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
    }
}

import Foundation

public enum Role: String, Codable, Sendable, CaseIterable {
    /// Changes the platform, issues tokens, sees everything.
    case admin
    /// Sees and changes its own team's workloads.
    case member
    /// Reads only.
    case viewer
}

/// An API token as stored: only its hash is kept.
public struct APIToken: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: Role
    /// Members and viewers may be bound to a team; admins see all.
    public var team: String?
    public var hash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revoked: Bool
    public var createdBy: String

    public init(id: String, name: String, role: Role, team: String?, hash: String, createdAt: Date, expiresAt: Date?, createdBy: String) {
        self.id = id
        self.name = name
        self.role = role
        self.team = team
        self.hash = hash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revoked = false
        self.createdBy = createdBy
    }

    public func isValid(at now: Date) -> Bool { !revoked && (expiresAt.map { $0 > now } ?? true) }

    /// A new secret (`tmc_` + 43 URL-safe characters of 256 random bits) and its stored hash.
    public static func newSecret() -> (secret: String, hash: String) {
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<32 { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
        let b64 = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let secret = "tmc_" + b64
        return (secret, hashOf(secret))
    }

    public static func hashOf(_ secret: String) -> String { Digest.sha256Hex(secret) }
}

/// Who is calling, once their token is checked.
public struct Principal: Sendable, Hashable {
    public var tokenID: String
    public var name: String
    public var role: Role
    public var team: String?

    public init(tokenID: String, name: String, role: Role, team: String?) {
        self.tokenID = tokenID
        self.name = name
        self.role = role
        self.team = team
    }

    public init(_ t: APIToken) { self.init(tokenID: t.id, name: t.name, role: t.role, team: t.team) }

    public var actor: AuditActor { AuditActor(kind: .user, id: name) }

    /// The namespace of this caller's idempotency keys: a team's members share one, admins have their own.
    public var requestScope: String { role == .admin ? "admin" : "team:\(team ?? "")" }

    /// Admins and unbound viewers read everything; members and team viewers read their team.
    public func canRead(team t: String) -> Bool { Access.allows(self, .read(team: t)) }
    /// Admins change everything; members their own team; viewers nothing.
    public func canChange(team t: String) -> Bool { Access.allows(self, .change(team: t)) }
}

/// Random identifiers: a prefix and 12 hex characters.
public enum Identifier {
    public static func make(_ prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        return prefix + "-" + String(format: "%012llx", UInt64.random(in: 0..<(1 << 48), using: &rng))
    }
}

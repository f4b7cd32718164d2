import Foundation

/// An API token as listed (`GET /v1/tokens`); the secret only in the response that creates it.
public struct TokenView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    /// admin, member or viewer.
    public var role: String
    public var team: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revoked: Bool
    public var createdBy: String
    public var secret: String?

    public init(id: String, name: String, role: String, team: String?, createdAt: Date, expiresAt: Date?, revoked: Bool, createdBy: String,
                secret: String? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.team = team
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revoked = revoked
        self.createdBy = createdBy
        self.secret = secret
    }
}

public struct TokenList: Codable, Sendable, Hashable {
    public var items: [TokenView]
    public init(items: [TokenView]) { self.items = items }
}

/// `POST /v1/tokens`.
public struct TokenRequest: Codable, Sendable, Hashable {
    public var name: String?
    public var role: String
    public var team: String?
    /// Seconds until it expires (none: it does not).
    public var ttlSeconds: Double?
    public init(name: String? = nil, role: String, team: String? = nil, ttlSeconds: Double? = nil) {
        self.name = name
        self.role = role
        self.team = team
        self.ttlSeconds = ttlSeconds
    }
}

/// `GET /v1/whoami`: who the caller's token says they are.
public struct WhoAmI: Codable, Sendable, Hashable {
    public var name: String
    public var role: String
    public var team: String?
    public var tokenID: String
    public init(name: String, role: String, team: String?, tokenID: String) {
        self.name = name
        self.role = role
        self.team = team
        self.tokenID = tokenID
    }
}

/// A one-time portal sign-in link for the caller's own token (`POST /v1/portal/links`, `tarmac portal-link`).
public struct PortalLinkView: Codable, Sendable, Hashable {
    public var url: String
    public var expiresAt: Date
    public init(url: String, expiresAt: Date) {
        self.url = url
        self.expiresAt = expiresAt
    }
}

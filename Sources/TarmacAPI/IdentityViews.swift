import Foundation

/// `POST /v1/identity`: a pod's JWT-SVID, for its bootstrap credential (first) or its current JWT-SVID (renewal).
public struct SVIDView: Codable, Sendable, Hashable {
    public var spiffeID: String
    public var svid: String
    public var expiresAt: Date
    public init(spiffeID: String, svid: String, expiresAt: Date) {
        self.spiffeID = spiffeID
        self.svid = svid
        self.expiresAt = expiresAt
    }
}

/// `POST /v1/identity` body: exactly one of `bootstrap` (local pods: the content of TARMAC_IDENTITY_BOOTSTRAP_FILE),
/// `serviceAccountToken` (Kubernetes pods: the content of TARMAC_IDENTITY_TOKEN_FILE) and `svid` (renewal), and the
/// audiences.
public struct SVIDRequest: Codable, Sendable, Hashable {
    public var bootstrap: String?
    public var serviceAccountToken: String?
    public var svid: String?
    public var audience: [String]?
    public init(bootstrap: String? = nil, serviceAccountToken: String? = nil, svid: String? = nil, audience: [String]? = nil) {
        self.bootstrap = bootstrap
        self.serviceAccountToken = serviceAccountToken
        self.svid = svid
        self.audience = audience
    }
}

/// `POST /v1/token` (RFC 8693 §2.1), form-encoded; field names as the RFC spells them.
public struct TokenExchangeRequest: Codable, Sendable, Hashable {
    public var grant_type: String?
    public var subject_token: String?
    public var subject_token_type: String?
    public var actor_token: String?
    public var actor_token_type: String?
    public var audience: String?
    public var resource: String?
    public var scope: String?

    public init(grant_type: String? = nil, subject_token: String? = nil, subject_token_type: String? = nil, actor_token: String? = nil,
                actor_token_type: String? = nil, audience: String? = nil, resource: String? = nil, scope: String? = nil) {
        self.grant_type = grant_type
        self.subject_token = subject_token
        self.subject_token_type = subject_token_type
        self.actor_token = actor_token
        self.actor_token_type = actor_token_type
        self.audience = audience
        self.resource = resource
        self.scope = scope
    }

    /// From the decoded form; parameters it does not know are ignored (RFC 6749 §3.2: "MUST be ignored").
    public init(form f: [String: String]) {
        self.init(grant_type: f["grant_type"], subject_token: f["subject_token"], subject_token_type: f["subject_token_type"],
                  actor_token: f["actor_token"], actor_token_type: f["actor_token_type"], audience: f["audience"], resource: f["resource"],
                  scope: f["scope"])
    }
}

/// The successful response of `POST /v1/token` (RFC 8693 §2.2.1), field names as the RFC spells them.
public struct TokenExchangeResponse: Codable, Sendable, Hashable {
    public var access_token: String
    public var issued_token_type: String
    public var token_type: String
    public var expires_in: Int
    public var scope: String
    public init(access_token: String, issued_token_type: String, token_type: String, expires_in: Int, scope: String) {
        self.access_token = access_token
        self.issued_token_type = issued_token_type
        self.token_type = token_type
        self.expires_in = expires_in
        self.scope = scope
    }
}

/// An OAuth error response (RFC 6749 §5.2).
public struct OAuthErrorBody: Codable, Sendable, Hashable {
    public var error: String
    public var error_description: String
    public init(error: String, error_description: String) {
        self.error = error
        self.error_description = error_description
    }
}

/// One grant of a tool scope to an agent, as `tarmac grant list` and `who-can` show it.
public struct GrantView: Codable, Sendable, Hashable {
    public var id: String
    public var agent: String
    public var agentName: String
    public var workload: String
    public var team: String
    public var env: String
    public var tool: String
    public var scope: String
    public var onBehalfOf: String?
    public var requestedBy: String
    public var approvers: String?
    /// pending, approved, expired, denied, revoked or ended.
    public var state: String
    public var decidedBy: String?
    public var decidedAt: Date?
    public var reason: String?
    public var createdAt: Date
    public var expiresAt: Date?

    public init(id: String, agent: String, agentName: String, workload: String, team: String, env: String, tool: String, scope: String,
                onBehalfOf: String?, requestedBy: String, approvers: String?, state: String, decidedBy: String?, decidedAt: Date?,
                reason: String?, createdAt: Date, expiresAt: Date?) {
        self.id = id
        self.agent = agent
        self.agentName = agentName
        self.workload = workload
        self.team = team
        self.env = env
        self.tool = tool
        self.scope = scope
        self.onBehalfOf = onBehalfOf
        self.requestedBy = requestedBy
        self.approvers = approvers
        self.state = state
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.reason = reason
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public struct GrantList: Codable, Sendable, Hashable {
    public var items: [GrantView]
    public init(items: [GrantView]) { self.items = items }
}

/// `POST /v1/grants/{id}/approve|deny|revoke`.
public struct GrantDecisionRequest: Codable, Sendable, Hashable {
    /// Approve only: seconds the grant lasts (at most the contract's maxLifetime; default that, or while the agent runs).
    public var lifetimeSeconds: Double?
    /// Deny or revoke: why.
    public var reason: String?
    public init(lifetimeSeconds: Double? = nil, reason: String? = nil) {
        self.lifetimeSeconds = lifetimeSeconds
        self.reason = reason
    }
}

/// `POST /v1/keys/rotate`.
public struct KeyRotationView: Codable, Sendable, Hashable {
    public var kid: String
    /// Every key in the JWKS after the rotation, newest first.
    public var published: [String]
    public init(kid: String, published: [String]) {
        self.kid = kid
        self.published = published
    }
}

/// `/.well-known/jwks.json`: the published signing keys (RFC 7517).
public struct JWKSDocument: Codable, Sendable, Hashable {
    public struct Key: Codable, Sendable, Hashable {
        public var kty = "EC"
        public var crv = "P-256"
        public var alg = "ES256"
        public var use = "sig"
        public var kid: String
        public var x: String
        public var y: String
        public init(kid: String, x: String, y: String) {
            self.kid = kid
            self.x = x
            self.y = y
        }
    }
    public var keys: [Key]
    public init(keys: [Key]) { self.keys = keys }
}

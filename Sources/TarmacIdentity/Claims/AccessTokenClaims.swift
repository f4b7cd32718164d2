import JWTKit

/// A token issued by exchange (RFC 8693), as a JWT access token (RFC 9068, header `typ: at+jwt`): the person in `sub`,
/// the agent (and the agents before it) in `act`, one tool in `aud`, the granted scopes in `scope`. A token an agent
/// holds in its own name has its SPIFFE ID in `sub` and no `act`.
public struct AccessTokenClaims: JWTPayload, Hashable {
    public var iss: String
    public var sub: String
    public var aud: Audience
    public var exp: Int64
    public var iat: Int64
    public var jti: String
    /// Space-separated scopes.
    public var scope: String
    public var act: ActorClaim?
    /// The agent's SPIFFE ID (RFC 9068 `client_id`).
    public var client_id: String
    /// The agent's workload and attempt (the token ends when that attempt ends).
    public var tarmac: WorkloadClaim

    public init(iss: String, sub: String, aud: [String], exp: Int64, iat: Int64, jti: String, scope: [String], act: ActorClaim?,
                clientID: String, tarmac: WorkloadClaim) {
        self.iss = iss
        self.sub = sub
        self.aud = Audience(aud)
        self.exp = exp
        self.iat = iat
        self.jti = jti
        self.scope = scope.joined(separator: " ")
        self.act = act
        self.client_id = clientID
        self.tarmac = tarmac
    }

    public var scopes: [String] { scope.split(separator: " ").map(String.init) }
    /// Whether a person is behind the token (else the agent acts in its own name).
    public var onBehalfOfPerson: Bool { act != nil }

    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

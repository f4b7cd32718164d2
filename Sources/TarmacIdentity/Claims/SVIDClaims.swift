import JWTKit

/// A JWT-SVID: the workload's SPIFFE ID in `sub`, for the audiences in `aud`, short-lived. Header `typ` is `JWT`.
public struct SVIDClaims: JWTPayload, Hashable {
    public var iss: String
    public var sub: String
    public var aud: Audience
    public var exp: Int64
    public var iat: Int64
    public var jti: String
    public var tarmac: WorkloadClaim

    public init(iss: String, sub: String, aud: [String], exp: Int64, iat: Int64, jti: String, tarmac: WorkloadClaim) {
        self.iss = iss
        self.sub = sub
        self.aud = Audience(aud)
        self.exp = exp
        self.iat = iat
        self.jti = jti
        self.tarmac = tarmac
    }

    /// Time and audience are checked by `TokenVerifier` against its clock; the signature by JWTKit.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

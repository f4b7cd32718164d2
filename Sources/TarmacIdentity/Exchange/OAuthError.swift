/// An OAuth 2.0 error response (RFC 6749 §5.2, RFC 8693 §2.2.2): a code from the RFCs and a description for people.
public struct OAuthError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidGrant = "invalid_grant"
        case invalidTarget = "invalid_target"
        case invalidScope = "invalid_scope"
        case invalidClient = "invalid_client"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
    }

    public var code: Code
    public var description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    /// 401 for a client that could not be authenticated, 400 for everything else (RFC 6749 §5.2).
    public var status: Int { code == .invalidClient ? 401 : 400 }
}

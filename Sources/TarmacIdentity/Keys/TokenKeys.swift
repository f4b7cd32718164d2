import Crypto
import Foundation
import JWTKit
import Synchronization

/// Why a presented token was not accepted. Every case is a 401 (or an OAuth `invalid_grant`) at the edges.
public enum TokenRejection: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed(String)
    case tooLarge
    case algorithm(String)
    case type(expected: String, got: String?)
    case unknownKey
    case signature
    case expired
    case issuedInFuture
    case audience(expected: String)
    case issuer

    public var description: String {
        switch self {
        case .malformed(let why): "the token is not a well-formed JWT (\(why))"
        case .tooLarge: "the token is larger than \(TokenKeys.maxTokenBytes) bytes"
        case .algorithm(let a): "the token is signed with '\(a)'; only ES256 is accepted"
        case .type(let e, let g): "the token's type is \(g.map { "'\($0)'" } ?? "missing"); '\(e)' is required here"
        case .unknownKey: "the token names no published signing key (see /.well-known/jwks.json)"
        case .signature: "the token's signature does not verify"
        case .expired: "the token has expired"
        case .issuedInFuture: "the token is issued in the future"
        case .audience(let e): "the token is not for '\(e)'"
        case .issuer: "the token was issued by someone else"
        }
    }
}

/// The platform's signing keys as JWTKit keys: signs with the ring's signer, verifies with any published key. A token
/// is checked before its signature: at most 8 KiB, three base64url parts, header `alg` ES256, the expected `typ`, a
/// published `kid`, no `crit`; after it: issuer, time and audience.
public final class TokenKeys: Sendable {
    public static let maxTokenBytes = 8192
    /// Allowed clock difference between issuer and verifier, in seconds (both are this process: one second of rounding).
    public static let leeway: Int64 = 1

    struct Loaded: Sendable {
        var ring: KeyRing
        var collection: JWTKeyCollection
        var published: Set<String>
        var signer: String?
    }

    public let issuer: String
    private let sealingKey: SymmetricKey
    private let loaded: Mutex<Loaded>

    public init(issuer: String, ring: KeyRing, sealingKey: SymmetricKey, now: Date) async throws {
        self.issuer = issuer
        self.sealingKey = sealingKey
        loaded = Mutex(try await Self.load(ring, sealingKey: sealingKey, now: now))
    }

    /// Puts another ring in force (after a rotation or when retired keys are dropped).
    public func replace(_ ring: KeyRing, now: Date) async throws {
        let next = try await Self.load(ring, sealingKey: sealingKey, now: now)
        loaded.withLock { $0 = next }
    }

    public var ring: KeyRing { loaded.withLock { $0.ring } }

    static func load(_ ring: KeyRing, sealingKey: SymmetricKey, now: Date) async throws -> Loaded {
        let collection = JWTKeyCollection()
        var published: Set<String> = []
        for k in ring.published(at: now) {
            await collection.add(ecdsa: try k.open(with: sealingKey), kid: JWKIdentifier(string: k.kid))
            published.insert(k.kid)
        }
        return Loaded(ring: ring, collection: collection, published: published, signer: ring.signer?.kid)
    }

    /// Signs with the current signer; `typ` is `JWT` for SVIDs, `at+jwt` for access tokens.
    public func sign(_ payload: some JWTPayload, typ: String) async throws -> String {
        let (collection, kid) = loaded.withLock { ($0.collection, $0.signer) }
        guard let kid else { throw IdentityError("no signing key: rotate one in with `tarmac keys rotate`") }
        var header = JWTHeader()
        header.typ = typ
        header.alg = "ES256"
        return try await collection.sign(payload, kid: JWKIdentifier(string: kid), header: header)
    }

    struct Header: Decodable {
        var alg: String?
        var typ: String?
        var kid: String?
        var crit: [String]?
    }

    /// The checked header of a token, before its signature is verified.
    func precheck(_ token: String, typ: String) throws(TokenRejection) -> String {
        guard token.utf8.count <= Self.maxTokenBytes else { throw .tooLarge }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("\(parts.count) parts instead of 3") }
        guard !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { throw .malformed("an empty part") }
        guard let h = Base64URL.decode(parts[0]), Base64URL.decode(parts[1]) != nil, Base64URL.decode(parts[2]) != nil else {
            throw .malformed("a part is not base64url")
        }
        guard let header = Self.header(h) else { throw .malformed("the header is not a JSON object") }
        guard header.alg == "ES256" else { throw .algorithm(header.alg ?? "none") }
        guard header.typ?.lowercased() == typ.lowercased() else { throw .type(expected: typ, got: header.typ) }
        guard header.crit == nil else { throw .malformed("critical header parameters are not supported") }
        guard let kid = header.kid, loaded.withLock({ $0.published.contains(kid) }) else { throw .unknownKey }
        return kid
    }

    static func header(_ bytes: Data) -> Header? { try? JSONDecoder().decode(Header.self, from: bytes) }

    /// The `typ` of a token's header, read without trusting it (to tell an access token from a JWT-SVID before
    /// verifying it as one or the other).
    public static func unverifiedType(_ token: String) -> String? {
        guard token.utf8.count <= maxTokenBytes, let first = token.split(separator: ".", maxSplits: 1).first,
              let bytes = Base64URL.decode(first) else { return nil }
        return header(bytes)?.typ
    }

    /// Verifies signature, issuer and time; the audience is the caller's to check (it differs per use).
    public func verify<P: JWTPayload & TimedClaims>(_ token: String, as: P.Type, typ: String, now: Date) async throws(TokenRejection) -> P {
        _ = try precheck(token, typ: typ)
        let collection = loaded.withLock { $0.collection }
        let payload: P
        do {
            payload = try await collection.verify(token, as: P.self)
        } catch {
            switch Self.classify(error) {
            case .claims: throw .malformed("the claims do not decode: \(error)")
            case .signature: throw .signature
            }
        }
        guard payload.iss == issuer else { throw .issuer }
        let t = Int64(now.timeIntervalSince1970)
        guard payload.exp > t - Self.leeway else { throw .expired }
        guard payload.iat <= t + Self.leeway else { throw .issuedInFuture }
        return payload
    }

    enum Kind { case signature, claims }

    /// The payload did not decode (a claim missing or of the wrong type); anything else failed the signature (wrong
    /// key, altered bytes, a signature of the wrong size).
    static func classify(_ error: any Error) -> Kind {
        if error is DecodingError { return .claims }
        if let e = error as? JWTError, e.errorType == .malformedToken || e.errorType == .claimVerificationFailure { return .claims }
        return .signature
    }
}

/// Claims every Tarmac token has.
public protocol TimedClaims {
    var iss: String { get }
    var exp: Int64 { get }
    var iat: Int64 { get }
}

extension SVIDClaims: TimedClaims {}
extension AccessTokenClaims: TimedClaims {}

import Crypto
import Foundation
import JWTKit
import TarmacAPI

/// One ES256 signing key as stored: its private key sealed (AES-GCM) with the control plane's credential key, its
/// public coordinates for the JWKS, when it stopped signing and until when it stays published.
public struct SigningKey: Codable, Sendable, Hashable {
    public var kid: String
    public var sealedPrivateKey: Data
    /// Base64url coordinates of the public key.
    public var x: String
    public var y: String
    public var createdAt: Date
    /// Set when a newer key took over signing.
    public var retiredAt: Date?
    /// A retired key stays in the JWKS until its last token expired.
    public var publishedUntil: Date?

    /// A new key, sealed with `sealingKey`.
    public static func generate(at now: Date, sealingKey: SymmetricKey) throws -> (SigningKey, ES256PrivateKey) {
        let key = ES256PrivateKey()
        guard let p = key.parameters else { throw IdentityError("the new signing key has no public parameters") }
        let sealed = try AES.GCM.seal(Data(key.pemRepresentation.utf8), using: sealingKey).combined ?? Data()
        let kid = Self.thumbprint(x: p.x, y: p.y)
        return (SigningKey(kid: kid, sealedPrivateKey: sealed, x: p.x, y: p.y, createdAt: now), key)
    }

    /// The private key, opened with the key it was sealed with.
    public func open(with sealingKey: SymmetricKey) throws -> ES256PrivateKey {
        let pem = try AES.GCM.open(AES.GCM.SealedBox(combined: sealedPrivateKey), using: sealingKey)
        return try ES256PrivateKey(pem: String(decoding: pem, as: UTF8.self))
    }

    public func published(at now: Date) -> Bool { publishedUntil.map { $0 > now } ?? true }

    /// The RFC 7638 JWK thumbprint of the public key (base64url SHA-256 of its canonical JSON): the key's `kid`.
    static func thumbprint(x: String, y: String) -> String {
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        return Base64URL.encode(Data(SHA256.hash(data: Data(canonical.utf8))))
    }

    init(kid: String, sealedPrivateKey: Data, x: String, y: String, createdAt: Date) {
        self.kid = kid
        self.sealedPrivateKey = sealedPrivateKey
        self.x = x
        self.y = y
        self.createdAt = createdAt
    }
}

/// The keys of the platform: the newest unretired one signs; every published one verifies and is in the JWKS.
public struct KeyRing: Sendable, Hashable {
    public private(set) var keys: [SigningKey]

    public init(_ keys: [SigningKey]) { self.keys = keys.sorted { $0.createdAt < $1.createdAt } }

    public var signer: SigningKey? { keys.last { $0.retiredAt == nil } }

    public func published(at now: Date) -> [SigningKey] { keys.filter { $0.published(at: now) } }

    /// Adds `next` as the signer; the one it replaces stops signing now and stays published for `keepFor` (the
    /// longest lifetime of a token it signed). Returns the keys that changed.
    public mutating func rotate(to next: SigningKey, at now: Date, keepFor: TimeInterval) -> [SigningKey] {
        var changed: [SigningKey] = []
        for i in keys.indices where keys[i].retiredAt == nil {
            keys[i].retiredAt = now
            keys[i].publishedUntil = now.addingTimeInterval(keepFor)
            changed.append(keys[i])
        }
        keys.append(next)
        return changed + [next]
    }

    /// Keys no longer published (their last token expired): to delete.
    public func expired(at now: Date) -> [SigningKey] { keys.filter { !$0.published(at: now) } }

    public mutating func remove(_ kids: Set<String>) { keys.removeAll { kids.contains($0.kid) } }

    /// The JSON Web Key Set of the published keys (RFC 7517), newest first.
    public func jwks(at now: Date) -> JWKSDocument {
        JWKSDocument(keys: published(at: now).reversed().map { JWKSDocument.Key(kid: $0.kid, x: $0.x, y: $0.y) })
    }
}

enum Base64URL {
    static func encode(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ s: Substring) -> Data? {
        guard s.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }) else { return nil }
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}

/// A problem of the identity module (a key that cannot be opened, a record that cannot be read).
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

import Foundation
import Synchronization
import TarmacIdentity

/// Tokens whose signature was verified, until they expire: a repeated call skips the ECDSA check, never the deny
/// list (revocation, ended attempts and one-time use are checked on every call). Bounded; cleared when full.
final class VerifiedTokens: Sendable {
    struct Entry: Sendable {
        var claims: AccessTokenClaims
        var tool: String
    }

    private let entries = Mutex<[String: Entry]>([:])
    let capacity: Int

    init(capacity: Int = 50_000) { self.capacity = capacity }

    func get(_ token: String, tool: String, now: Date) -> AccessTokenClaims? {
        entries.withLock { e in
            guard let hit = e[token], hit.tool == tool else { return nil }
            guard hit.claims.exp > Int64(now.timeIntervalSince1970) - TokenKeys.leeway else {
                e[token] = nil
                return nil
            }
            return hit.claims
        }
    }

    func put(_ token: String, tool: String, claims: AccessTokenClaims) {
        entries.withLock { e in
            if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            e[token] = Entry(claims: claims, tool: tool)
        }
    }

    /// After a key rotation drops keys: tokens they signed must be checked again.
    func clear() { entries.withLock { $0.removeAll() } }
}

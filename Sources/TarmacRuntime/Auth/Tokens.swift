import TarmacCore
import Synchronization
import Foundation
import TarmacModel
import TarmacContract

/// Issues, checks and revokes API tokens. Secrets are shown once and stored only as SHA-256 hashes.
public struct Tokens: Sendable {
    let store: any Store
    let teams: Set<String>
    let clock: any RuntimeClock
    /// Tokens read before, by hash: every API call authenticates, and a store read per call cost 3.5% of a submit's CPU
    /// (measured with `TarmacBenchmarks api`). A revocation removes its token here once the store has it.
    let known = KnownTokens()

    public init(store: any Store, teams: Set<String>, clock: any RuntimeClock = SystemClock()) {
        self.clock = clock
        self.store = store
        self.teams = teams
    }

    /// The first start: an admin token when there is none. Returns its secret (to print once), or nil.
    public func bootstrap() async throws -> String? {
        guard try await store.tokens().isEmpty else { return nil }
        return try await create(name: "admin", role: .admin, team: nil, ttl: nil, by: AuditActor(kind: .system, id: "bootstrap")).secret
    }

    public func create(name: String, role: Role, team: String?, ttl: TimeInterval?, by actor: AuditActor) async throws -> (token: APIToken, secret: String) {
        var problems: [String] = []
        if let team, !teams.contains(team) {
            let near = Suggestions.closest(to: team, in: teams.sorted())
            problems.append("unknown team '\(team)'\(near.map { "; did you mean '\($0)'?" } ?? "")")
        }
        if role == .member && team == nil { problems.append("a member token needs --team") }
        if role == .admin && team != nil { problems.append("an admin token is not bound to a team; drop --team") }
        if let ttl, ttl <= 0 || ttl > 3650 * 86400 { problems.append("the time to live must be positive and at most 10 years") }
        if name.isEmpty || name.count > 100 { problems.append("the name must have 1 to 100 characters") }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .lineSeparator || $0.properties.generalCategory == .paragraphSeparator }) {
            problems.append("the name must be one printable line (no control characters)")
        }
        guard problems.isEmpty else { throw RuntimeError(.invalid, problems.joined(separator: "; ")) }
        let (secret, hash) = APIToken.newSecret()
        let now = clock.now
        let t = APIToken(id: Identifier.make("tok"), name: name, role: role, team: team, hash: hash, createdAt: now,
                         expiresAt: ttl.map { now.addingTimeInterval($0) }, createdBy: actor.id)
        try await store.insertToken(t, audit: AuditDraft(time: now, actor: actor, action: "token-create", object: "token/\(t.id)",
                                                          detail: "\(name) role \(role.rawValue)\(team.map { " team \($0)" } ?? "")\(t.expiresAt.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? "")"))
        return (t, secret)
    }

    /// The principal behind a bearer secret, if the token exists, is not revoked and has not expired.
    public func authenticate(_ secret: String) async throws -> Principal? {
        guard secret.hasPrefix("tmc_"), secret.count < 200 else { return nil }
        return try await principal(hash: APIToken.hashOf(secret))
    }

    /// The principal behind a token's hash (what a portal session keeps instead of the secret), if the token is still
    /// valid: a revoked or expired token ends every session signed in with it.
    public func principal(hash: String) async throws -> Principal? {
        let token: APIToken
        if let t = known.get(hash) {
            token = t
        } else {
            guard let t = try await store.token(hash: hash) else { return nil }
            known.put(t)
            token = t
        }
        guard token.isValid(at: clock.now) else { return nil }
        return Principal(token)
    }

    public func list() async throws -> [APIToken] { try await store.tokens() }

    public func revoke(id: String, by actor: AuditActor) async throws {
        guard try await store.revokeToken(id: id, audit: AuditDraft(time: clock.now, actor: actor, action: "token-revoke", object: "token/\(id)")) else {
            throw RuntimeError(.notFound, "no active token with id '\(id)'")
        }
        known.remove(id: id)
    }
}

/// Tokens by hash, bounded (cleared when full). A revoked token's id is remembered, so a read that raced with the
/// revocation cannot put the token back.
final class KnownTokens: Sendable {
    private struct State {
        var byHash: [String: APIToken] = [:]
        var revoked: Set<String> = []
    }

    private let state = Mutex(State())
    let capacity = 10_000

    func get(_ hash: String) -> APIToken? { state.withLock { $0.byHash[hash] } }

    func put(_ t: APIToken) {
        state.withLock { s in
            guard !s.revoked.contains(t.id) else { return }
            if s.byHash.count >= capacity { s.byHash.removeAll(keepingCapacity: true) }
            s.byHash[t.hash] = t
        }
    }

    func remove(id: String) {
        state.withLock { s in
            s.revoked.insert(id)
            s.byHash = s.byHash.filter { $0.value.id != id }
        }
    }
}

import TarmacCore
import Crypto
import Foundation
import Logging
import Synchronization
import TarmacAPI
import TarmacIdentity
import TarmacModel

/// The credential controller: mints JWT-SVIDs for attested pods, exchanges them for per-tool tokens (RFC 8693), keeps
/// agents' grants, rotates signing keys, and keeps the deny list the gateway checks on every call. It learns of
/// workloads from the transition stream (`handle`) and asks the control plane only when a pod attests or an exchange
/// is decided.
public final class CredentialAuthority: Sendable {
    /// The `iss` of every token, and the audience a JWT-SVID presented to Tarmac itself must carry.
    public let issuer: String
    public let keys: TokenKeys
    let state = CredentialState()
    let store: any Store
    let controlPlane: any WorkloadDirectory
    /// Where it (and the tool gateway) reads the time.
    public let clock: any RuntimeClock
    let logger: Logger
    let sealingKey: SymmetricKey
    let rotating = Mutex(false)

    init(issuer: String, keys: TokenKeys, store: any Store, controlPlane: any WorkloadDirectory, clock: any RuntimeClock, logger: Logger, sealingKey: SymmetricKey) {
        self.issuer = issuer
        self.keys = keys
        self.store = store
        self.controlPlane = controlPlane
        self.clock = clock
        self.logger = logger
        self.sealingKey = sealingKey
    }

    /// Loads keys (making the first one on a new store), grants, and which attempts are live. Call after the control
    /// plane has recovered its state.
    public static func start(issuer: String, store: any Store, controlPlane: any WorkloadDirectory, sealingKey: SymmetricKey,
                             clock: any RuntimeClock = SystemClock(), logger: Logger) async throws -> CredentialAuthority {
        let authority = try await load(issuer: issuer, store: store, controlPlane: controlPlane, sealingKey: sealingKey, clock: clock, logger: logger)
        try await authority.adoptLiveAttempts()
        return authority
    }

    /// Loads keys (making the first one on a new store) and grants; `adoptLiveAttempts()` must follow once the control
    /// plane has recovered its state, before the authority answers anyone.
    public static func load(issuer: String, store: any Store, controlPlane: any WorkloadDirectory, sealingKey: SymmetricKey,
                            clock: any RuntimeClock = SystemClock(), logger: Logger) async throws -> CredentialAuthority {
        let now = clock.now
        var ring = KeyRing(try await store.signingKeys())
        if ring.signer == nil {
            let (key, _) = try SigningKey.generate(at: now, sealingKey: sealingKey)
            _ = ring.rotate(to: key, at: now, keepFor: 0)
            try await store.saveSigningKeys([key], deleting: [],
                                            audit: [AuditDraft(time: now, actor: AuditActor(kind: .system, id: "credentials"), action: "key-create", object: "key/\(key.kid)", detail: "first ES256 signing key")])
        }
        let keys = try await TokenKeys(issuer: issuer, ring: ring, sealingKey: sealingKey, now: now)
        let authority = CredentialAuthority(issuer: issuer, keys: keys, store: store, controlPlane: controlPlane, clock: clock, logger: logger, sealingKey: sealingKey)
        authority.state.put(try await store.grants())
        return authority
    }

    /// Learns which attempts are live from the recovered control plane; grants of agents that ended while Tarmac was
    /// down end now.
    public func adoptLiveAttempts() async throws {
        let live = await controlPlane.liveAttempts()
        state.values.withLock { v in
            for (e, holding) in live where holding { v.live[e.id] = e.attempt }
        }
        let liveIDs = Set(live.map(\.entry.id))
        let now = clock.now
        let over = state.allGrants().filter { !liveIDs.contains($0.workload) }.compactMap { GrantRules.end($0, now: now) }
        try await save(over, action: "grant-end", actor: .lifecycle, detail: { _ in "the agent is no longer running" })
    }

    var settings: IdentitySettings { controlPlane.platform.identity }

    // MARK: Workload identity (JWT-SVIDs)

    public struct IssuedSVID: Sendable {
        public var spiffeID: String
        public var token: String
        public var expiresAt: Date
    }

    /// A pod's first credential: its one-time bootstrap (local attestation) for a JWT-SVID.
    public func redeem(bootstrap secret: String, audience: [String]?) async -> Result<IssuedSVID, OAuthError> {
        guard let (e, pod) = await controlPlane.attest(bootstrap: secret) else {
            return .failure(OAuthError(.invalidGrant, "the bootstrap credential is not genuine, or its workload attempt no longer runs"))
        }
        return await attested(e, pod: String(pod), means: "local bootstrap", audience: audience) { [store] audit in
            // One use: a second redemption of the same pod's bootstrap is refused.
            guard try await store.redeem("identity-bootstrap:\(e.id).\(e.attempt).\(pod)", audit: audit) else {
                throw OAuthError(.invalidGrant, "this bootstrap credential was already used; renew with the JWT-SVID it gave")
            }
        }
    }

    /// A pod's credential on Kubernetes: its projected service-account token (audience `tarmac`), checked by the
    /// cluster (TokenReview) and matched to the workload's current attempt by the pod it is bound to.
    public func redeem(serviceAccountToken token: String, audience: [String]?) async -> Result<IssuedSVID, OAuthError> {
        guard let (e, pod) = await controlPlane.attest(serviceAccountToken: token) else {
            return .failure(OAuthError(.invalidGrant, "the service-account token was not accepted: not genuine, not for audience tarmac, or its pod is not the current attempt of a running workload"))
        }
        return await attested(e, pod: pod, means: "service-account token, TokenReview", audience: audience) { [store] audit in
            try await store.appendAudit([audit])
        }
    }

    /// A pod proved itself: its attestation is recorded (by `record`, which may refuse it), then it gets a JWT-SVID.
    func attested(_ e: WorkloadEntry, pod: String, means: String, audience: [String]?,
                  record: (AuditDraft) async throws -> Void) async -> Result<IssuedSVID, OAuthError> {
        let now = clock.now
        let id = e.spiffeID(trustDomain: controlPlane.platform.trustDomain)
        do {
            try await record(AuditDraft(time: now, actor: AuditActor(kind: .workload, id: id), action: "identity-attest", object: "workload/\(e.id)",
                                        detail: "pod \(pod) of attempt \(e.attempt) proved its identity (\(means))"))
        } catch let refused as OAuthError {
            return .failure(refused)
        } catch {
            return .failure(OAuthError(.invalidRequest, "could not record the attestation: \(error)"))
        }
        state.setLive(e.id, attempt: e.attempt)
        return await issueSVID(id: id, workload: WorkloadClaim(wid: e.id, att: e.attempt, team: e.team), audience: audience, now: now)
    }

    /// A new JWT-SVID for a pod that holds a valid one for Tarmac (audience = the issuer).
    public func renew(svid: String, audience: [String]?) async -> Result<IssuedSVID, OAuthError> {
        let now = clock.now
        switch await verifySVID(svid, now: now) {
        case .failure(let e): return .failure(e)
        case .success(let c): return await issueSVID(id: c.sub, workload: c.tarmac, audience: audience, now: now)
        }
    }

    func issueSVID(id: String, workload: WorkloadClaim, audience: [String]?, now: Date) async -> Result<IssuedSVID, OAuthError> {
        let aud = audience.flatMap { $0.isEmpty ? nil : $0 } ?? [issuer]
        guard aud.count <= 8, aud.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
            return .failure(OAuthError(.invalidRequest, "audience: 1 to 8 values of at most 256 bytes"))
        }
        let exp = now.addingTimeInterval(Double(settings.svidLifetime.seconds))
        let claims = SVIDClaims(iss: issuer, sub: id, aud: aud, exp: Int64(exp.timeIntervalSince1970), iat: Int64(now.timeIntervalSince1970),
                                jti: UUID().uuidString.lowercased(), tarmac: workload)
        do {
            return .success(IssuedSVID(spiffeID: id, token: try await keys.sign(claims, typ: "JWT"), expiresAt: exp))
        } catch {
            return .failure(OAuthError(.invalidRequest, "could not sign: \(error)"))
        }
    }

    /// A JWT-SVID presented to Tarmac: signed by a published key, for this issuer's audience, unexpired, of a live attempt.
    func verifySVID(_ token: String, now: Date) async -> Result<SVIDClaims, OAuthError> {
        let c: SVIDClaims
        do {
            c = try await keys.verify(token, as: SVIDClaims.self, typ: "JWT", now: now)
        } catch {
            return .failure(OAuthError(.invalidGrant, "the JWT-SVID was refused: \(error)"))
        }
        guard c.aud.contains(issuer) else { return .failure(OAuthError(.invalidGrant, "the JWT-SVID's audience must include \(issuer)")) }
        guard await isLive(c.tarmac) else {
            return .failure(OAuthError(.invalidGrant, "workload \(c.tarmac.wid) attempt \(c.tarmac.att) no longer runs; its credentials ended with it"))
        }
        return .success(c)
    }

    /// A JWT-SVID presented to a service Tarmac fronts (the inference gateway): signed by a published key, unexpired, of
    /// a live attempt. The audience is the caller's to check against what is called. nil when any of it fails.
    public func verifyWorkloadToken(_ token: String) async -> SVIDClaims? {
        guard let c = try? await keys.verify(token, as: SVIDClaims.self, typ: "JWT", now: clock.now), await isLive(c.tarmac) else { return nil }
        return c
    }

    func isLive(_ w: WorkloadClaim) async -> Bool {
        if state.isLive(w) { return true }
        // Not yet seen on the transition stream (a pod that just started): the control plane knows.
        guard await controlPlane.liveEntry(w.wid, attempt: w.att) != nil else { return false }
        state.setLive(w.wid, attempt: w.att)
        return true
    }

    // MARK: Signing keys

    public func jwks() -> JWKSDocument { keys.ring.jwks(at: clock.now) }

    /// A new signing key takes over; the old one verifies until the last token it signed expired.
    @discardableResult
    public func rotate(by actor: AuditActor, reason: String) async throws -> SigningKey {
        guard rotating.withLock({ busy in
            if busy { return false }
            busy = true
            return true
        }) else { throw RuntimeError(.conflict, "a key rotation is already under way") }
        defer { rotating.withLock { $0 = false } }
        let now = clock.now
        var ring = keys.ring
        let (key, _) = try SigningKey.generate(at: now, sealingKey: sealingKey)
        let keep = Double(max(settings.svidLifetime.seconds, settings.maxTokenLifetime.seconds) + TokenKeys.leeway)
        let changed = ring.rotate(to: key, at: now, keepFor: keep)
        let dropped = ring.expired(at: now).map(\.kid)
        ring.remove(Set(dropped))
        try await store.saveSigningKeys(changed.filter { !dropped.contains($0.kid) }, deleting: dropped,
                                        audit: [AuditDraft(time: now, actor: actor, action: "key-rotate", object: "key/\(key.kid)",
                                                           detail: "\(reason); earlier keys stay published until their tokens expire\(dropped.isEmpty ? "" : "; dropped \(dropped.joined(separator: ", "))")")])
        try await keys.replace(ring, now: now)
        logger.notice("signing key rotated", metadata: ["kid": "\(key.kid)", "reason": "\(reason)"])
        return key
    }

    /// Drops keys whose tokens have all expired (from the JWKS and the store).
    public func pruneKeys() async throws {
        let now = clock.now
        var ring = keys.ring
        let dropped = ring.expired(at: now).map(\.kid)
        guard !dropped.isEmpty else { return }
        ring.remove(Set(dropped))
        try await store.saveSigningKeys([], deleting: dropped, audit: [AuditDraft(time: now, actor: AuditActor(kind: .system, id: "credentials"), action: "key-drop",
                                                                                  object: "key/\(dropped.joined(separator: ","))", detail: "every token it signed has expired")])
        try await keys.replace(ring, now: now)
    }

    /// Rotates when the signer is due (the contract's `keyRotation` after it was made); returns the new key, or nil.
    @discardableResult
    public func rotateIfDue() async throws -> SigningKey? {
        guard clock.now >= nextRotation else { return nil }
        return try await rotate(by: AuditActor(kind: .system, id: "credentials"), reason: "scheduled rotation")
    }

    /// When the signer is due to rotate (the contract's `keyRotation` after it was made).
    public var nextRotation: Date {
        (keys.ring.signer?.createdAt ?? clock.now).addingTimeInterval(Double(settings.keyRotation.seconds))
    }

    // MARK: Transitions

    /// Keeps the deny list and grants in step with workloads: an attempt's credentials end with it; an agent's grants
    /// are requested at submit and end when it ends.
    public func handle(_ t: Transition) async {
        if t.to.holdsCapacity { state.setLive(t.workload, attempt: t.attempt) } else { state.endLive(t.workload) }
        do {
            if t.event == "submit" && t.kind == DocumentKind.agent.rawValue {
                try await ensureGrants(t.workload)
            } else if t.to.isTerminal {
                let over = state.grants(of: t.workload).compactMap { GrantRules.end($0, now: t.at) }
                try await save(over, action: "grant-end", actor: .lifecycle, detail: { _ in "agent \(t.name) \(t.to.rawValue)" })
            }
        } catch {
            logger.error("could not update grants", metadata: ["workload": "\(t.workload)", "error": "\(error)"])
        }
    }

    /// Creates the grants an agent's `tools` ask for, once.
    func ensureGrants(_ workload: String) async throws {
        guard state.grants(of: workload).isEmpty else { return }
        // Its plan is gone once it ended: an agent that ended before this ran asks for nothing.
        guard let (e, details) = await controlPlane.agent(workload) else { return }
        let platform = controlPlane.platform
        let requests = GrantRules.requests(workload: e.id, agent: e.spiffeID(trustDomain: platform.trustDomain), agentName: e.name, team: e.team, env: e.env,
                                           details: details, requestedBy: e.submittedBy, tools: platform.tools, now: clock.now)
        try await save(requests, action: "grant-request", actor: AuditActor(kind: .user, id: e.submittedBy), detail: { g in
            g.state == .approved ? "granted by the contract\(g.expiresAt.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? " while the agent runs")"
                : "needs approval by \(g.approvers ?? "")"
        })
    }

    func save(_ grants: [Grant], action: String, actor: AuditActor, detail: (Grant) -> String) async throws {
        guard !grants.isEmpty else { return }
        let now = clock.now
        try await store.saveGrants(grants, audit: grants.map { g in
            AuditDraft(time: now, actor: actor, action: action, object: "grant/\(g.id)", detail: "\(g.agentName) (\(g.agent)) \(g.tool):\(g.scope): \(detail(g))",
                       tool: g.tool, workload: g.workload)
        })
        state.put(grants)
    }
}

extension CredentialState {
    func setLive(_ workload: String, attempt: Int) { values.withLock { $0.live[workload] = attempt } }
    func endLive(_ workload: String) { values.withLock { _ = $0.live.removeValue(forKey: workload) } }
    func isLive(_ w: WorkloadClaim) -> Bool { values.withLock { $0.live[w.wid] == w.att } }
}

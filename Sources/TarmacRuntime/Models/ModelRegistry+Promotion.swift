import Foundation
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacModel

/// Reviews and promotions: a person approves a version's manifest; a promotion moves an environment's alias to a
/// version only when every gate of that environment's promotion contract passes, and says for each gate why.
extension ModelRegistry {
    // MARK: approve

    /// Records the caller's approval of a version's manifest (a second approval by the same person changes nothing).
    public func approve(_ model: String, _ ref: String, _ r: ApprovalRequest, by p: Principal) async throws -> (approval: ModelApproval, created: Bool) {
        let v = try await version(model, ref, team: r.team, by: p)
        try Access.require(p, .change(team: v.team), "\(p.name) cannot approve team \(v.team)'s models")
        if let c = r.comment, c.count > 2000 { throw RuntimeError(.invalid, "a comment has at most 2000 characters") }
        let now = controlPlane.clock.now
        let a = ModelApproval(team: v.team, model: v.model, version: v.version, digest: v.manifest.digest, by: p.name, at: now, comment: r.comment)
        let selfNote = p.name == v.registeredBy ? " (by its author: it does not count as a review)" : ""
        let audit = AuditDraft(time: now, actor: p.actor, action: "model-approve", object: "model/\(v.team)/\(v.reference)", after: v.manifest.digest,
                               detail: "approved \(v.manifest.digest)\(selfNote)\(r.comment.map { ": \($0)" } ?? "")")
        let created = try await store.approve(a, audit: audit)
        return (a, created)
    }

    public func approvals(of v: ModelVersion) async throws -> [ModelApproval] {
        try await store.approvals(team: v.team, model: v.model, version: v.version)
    }

    // MARK: promote

    public struct Promotion: Sendable {
        public var version: ModelVersion
        public var env: String
        public var alias: String
        public var previous: SemanticVersion?
        public var gates: [PromotionGates.Result]
        public var promoted: Bool
        public var dryRun: Bool
    }

    /// Evaluates the environment's promotion contract for a version and, when every gate passes (and not a dry run),
    /// moves the environment's alias to it. A refusal throws `invalid` with every gate as a diagnostic; nothing changes.
    public func promote(_ model: String, _ r: PromotionRequestBody, by p: Principal) async throws -> Promotion {
        let platform = controlPlane.platform
        guard let env = platform.environments[r.env] else {
            let names = platform.environments.keys.sorted()
            let hint = Suggestions.closest(to: r.env, in: names).map { "; did you mean '\($0)'?" } ?? " (environments: \(names.joined(separator: ", ")))"
            throw RuntimeError(.notFound, "no environment '\(r.env)' in the platform contract\(hint)")
        }
        let v = try await version(model, r.version, team: r.team, by: p)
        let contract = env.promotion
        let alias = contract?.alias ?? env.name
        try Self.requirePromoter(p, team: v.team, contract: contract, env: env.name)
        let current = try await store.aliases(team: v.team, model: v.model).first { $0.name == alias }
        if let c = current, c.version.hasSamePrecedence(as: v.version) {
            throw RuntimeError(.conflict, "\(v.model)@\(alias) points at \(v.version) already")
        }
        let approvers = try await approvals(of: v).filter { $0.digest == v.manifest.digest }.map(\.by)
        let serving = await controlPlane.servingModels(team: v.team, env: env.name)
        let aliasesNow = try await store.aliases(team: v.team, model: v.model)
        let rollbackWarm = current.map { c in Self.serves(serving, model: v.model, version: c.version, aliases: aliasesNow) } ?? false
        var policy = PromotionPolicy(requireSignature: contract?.requireSignature ?? false,
                                     trustedKeys: (contract?.trustedKeys ?? [:]).sorted { $0.key < $1.key }.map { .init(name: $0.key, pem: $0.value) },
                                     requireOwner: contract?.requireOwner ?? false, requireReview: contract?.requireReview ?? false,
                                     requireWarmRollback: contract?.requireWarmRollback ?? false, requireAnalysis: false)
        var gates: [PromotionGates.Result] = []
        if policy.requireWarmRollback && current == nil {
            // The first version promoted here has nothing to roll back to: the gate has nothing to ask.
            policy.requireWarmRollback = false
            gates.append(.init(gate: .warmRollback, failure: nil, detail: "the first version promoted to \(env.name): nothing to roll back to"))
        }
        let request = PromotionRequest(version: v.reference, manifest: v.manifest, signature: v.signature, owner: v.owner, author: v.registeredBy,
                                       approvers: approvers, rollbackTarget: current.map { "\(v.model)@\($0.version)" }, rollbackTargetWarm: rollbackWarm, rules: [])
        gates = PromotionGates.evaluate(request, under: policy) + gates
        let allowed = gates.allSatisfy(\.passed)
        let dryRun = r.dryRun ?? false
        var result = Promotion(version: v, env: env.name, alias: alias, previous: current?.version, gates: gates, promoted: false, dryRun: dryRun)
        guard allowed else {
            let failed = gates.filter { !$0.passed }
            throw RuntimeError(.invalid, "promotion of \(v.reference) to \(env.name) refused by \(failed.count == 1 ? "its" : "\(failed.count)") gate\(failed.count == 1 ? "" : "s") "
                               + failed.map(\.gate.rawValue).joined(separator: ", ") + "; nothing changed",
                               diagnostics: gates.map { Self.diagnostic($0, env: env.name) })
        }
        if dryRun { return result }
        let now = controlPlane.clock.now
        let moved = ModelAlias(team: v.team, model: v.model, name: alias, version: v.version, movedBy: p.name, movedAt: now)
        let detail = gates.isEmpty ? "no promotion contract for \(env.name): no gates"
            : gates.map { "\($0.gate.rawValue): \($0.detail ?? "passed")" }.joined(separator: "; ")
        let audit = AuditDraft(time: now, actor: p.actor, action: "model-promote", object: "model/\(v.team)/\(v.model)@\(alias)",
                               before: current?.version.description ?? "", after: v.version.description,
                               detail: "\(v.reference) to \(env.name) (\(v.manifest.digest)); \(detail)")
        guard try await store.moveAlias(moved, expected: current?.version, audit: audit) else {
            throw RuntimeError(.conflict, "\(v.model)@\(alias) moved while the gates were checked: promote again")
        }
        result.promoted = true
        return result
    }

    // MARK: rollouts

    /// What a review gate looks at: the version's manifest (approved with `tarmac model approve`), or the serving
    /// document itself (its digest reviewed with `tarmac review approve FILE`) and who submits it.
    public enum Reviewed: Sendable, Hashable {
        case manifest
        case document(digest: String, author: String)
    }

    /// The gates of the environment's promotion contract a rollout to `version` must pass: the same signature, owner
    /// and review as a promotion (the version must then be in the registry), analysis rules when asked, and the same
    /// promoters. (A rollout keeps the serving version warm until it ends, so the warm-rollback gate holds by
    /// construction.) Returns the gates passed, for the audit trail; a failed gate throws `invalid` with every gate as a
    /// diagnostic, and nothing changes.
    public func rolloutGates(model: String, version ref: String, team: String, env: String, rules: [AnalysisRule], reviewed: Reviewed = .manifest,
                             by p: Principal) async throws -> [PromotionGates.Result] {
        try await gates(model: model, version: ref, team: team, env: env, rules: rules, analysis: true, reviewed: reviewed, what: "this rollout to \(model)@\(ref)", by: p)
    }

    /// The gates a new InferenceService passes before it serves in an environment with a promotion contract: the
    /// first version served there is promoted by its submit (signature, owner, its document reviewed by someone other
    /// than the submitter, who must be one of the promoters); a first version has nothing to analyse or roll back to.
    public func servingGates(model: ModelReference, team: String, env: String, digest: String, by p: Principal) async throws -> [PromotionGates.Result] {
        try await gates(model: model.name, version: model.version, team: team, env: env, rules: [], analysis: false,
                        reviewed: .document(digest: digest, author: p.name), what: "serving \(model)", by: p)
    }

    func gates(model: String, version ref: String, team: String, env: String, rules: [AnalysisRule], analysis: Bool, reviewed: Reviewed, what: String,
               by p: Principal) async throws -> [PromotionGates.Result] {
        guard let contract = controlPlane.platform.environments[env]?.promotion else { return [] }
        try Self.requirePromoter(p, team: team, contract: contract, env: env)
        let policy = PromotionPolicy(requireSignature: contract.requireSignature,
                                     trustedKeys: contract.trustedKeys.sorted { $0.key < $1.key }.map { .init(name: $0.key, pem: $0.value) },
                                     requireOwner: contract.requireOwner, requireReview: contract.requireReview,
                                     requireWarmRollback: false, requireAnalysis: analysis && contract.requireAnalysis)
        // Who reviewed what the gate looks at.
        var author = "", approvers: [String] = []
        if case .document(let digest, let by) = reviewed, policy.requireReview {
            author = by
            approvers = try await store.reviews(team: team, digest: digest).map(\.by)
        }
        var gates: [PromotionGates.Result]
        if policy.requireSignature || policy.requireOwner || (policy.requireReview && reviewed == .manifest) {
            let v: ModelVersion
            do {
                v = try await version(model, ref, team: team, by: p)
            } catch let e as RuntimeError where e.code == .notFound {
                let asked = [policy.requireSignature ? "a signature" : nil, policy.requireOwner ? "an owner" : nil,
                             policy.requireReview && reviewed == .manifest ? "a review" : nil].compactMap { $0 }
                throw RuntimeError(.invalid, "environment \(env)'s promotion contract asks \(asked.joined(separator: ", ")) of every version it serves, and "
                                   + "\(model)@\(ref) is not in team \(team)'s registry (\(e.message)): register it first (tarmac model register)",
                                   diagnostics: [DiagnosticPayload(severity: "error", file: "environments.\(env).promotion", line: 0, column: 0,
                                                                   message: "\(model)@\(ref) is not registered", rule: "registry", help: "tarmac model register \(model) --version \(ref) --path DIR",
                                                                   text: "  FAIL  registry: \(model)@\(ref) is not in team \(team)'s registry")])
            }
            if reviewed == .manifest {
                author = v.registeredBy
                approvers = try await approvals(of: v).filter { $0.digest == v.manifest.digest }.map(\.by)
            }
            let request = PromotionRequest(version: v.reference, manifest: v.manifest, signature: v.signature, owner: v.owner, author: author,
                                           approvers: approvers, rollbackTarget: nil, rollbackTargetWarm: true, rules: rules)
            gates = PromotionGates.evaluate(request, under: policy)
        } else {
            let request = PromotionRequest(version: "\(model)@\(ref)", manifest: ModelManifest(files: []), signature: nil, owner: nil, author: author,
                                           approvers: approvers, rollbackTarget: nil, rollbackTargetWarm: true, rules: rules)
            gates = PromotionGates.evaluate(request, under: policy)
        }
        if case .document(let digest, _) = reviewed {
            // Say which document, and how it gets its review.
            gates = gates.map { g in
                guard g.gate == .review else { return g }
                var g = g
                if let f = g.failure {
                    g.failure = f + " (document \(digest); another member of team \(team) or an admin reviews it with `tarmac review approve FILE`)"
                } else {
                    g.detail = (g.detail ?? "reviewed") + " (document \(digest))"
                }
                return g
            }
        }
        let failed = gates.filter { !$0.passed }
        guard failed.isEmpty else {
            throw RuntimeError(.invalid, "environment \(env)'s promotion contract refuses \(what): "
                               + failed.map { "\($0.gate.rawValue): \($0.failure ?? "")" }.joined(separator: "; ") + "; nothing changed",
                               diagnostics: gates.map { Self.diagnostic($0, env: env) })
        }
        return gates
    }

    // MARK: document reviews

    /// Records the caller's review of a serving document (its digest) in a team: a member of the team or an admin.
    /// A second review by the same person changes nothing.
    public func review(digest: String, team: String, kind: String, name: String, comment: String?, by p: Principal) async throws -> (review: DocumentReview, created: Bool) {
        guard DocumentReview.isDigest(digest) else { throw RuntimeError(.invalid, "a document digest is sha256: and 64 lowercase hex digits, not '\(digest)'") }
        guard controlPlane.platform.teams[team] != nil, p.canRead(team: team) else { throw RuntimeError(.notFound, "no team '\(team)' in the platform contract") }
        try Access.require(p, .change(team: team), "\(p.name) cannot review team \(team)'s documents")
        guard DocumentKind(rawValue: kind)?.workloadClass != nil else {
            throw RuntimeError(.invalid, "kind '\(kind)' is not a workload kind (\(DocumentKind.allCases.filter { $0.workloadClass != nil }.map(\.rawValue).joined(separator: ", ")))")
        }
        guard name.count <= 253 else { throw RuntimeError(.invalid, "a name has at most 253 characters") }
        if let c = comment, c.count > 2000 { throw RuntimeError(.invalid, "a comment has at most 2000 characters") }
        let now = controlPlane.clock.now
        let r = DocumentReview(team: team, digest: digest, kind: kind, name: name, by: p.name, at: now, comment: comment)
        let audit = AuditDraft(time: now, actor: p.actor, action: "document-review", object: "\(kind.lowercased())/\(team)/\(name)", after: digest,
                               detail: "reviewed \(digest)\(comment.map { ": \($0)" } ?? "")")
        let created = try await store.review(r, audit: audit)
        return (r, created)
    }

    public func reviews(digest: String, team: String, by p: Principal) async throws -> [DocumentReview] {
        guard p.canRead(team: team) else { throw RuntimeError(.notFound, "no team '\(team)'") }
        return try await store.reviews(team: team, digest: digest)
    }

    /// The environments' promotion aliases: moved only by a promotion.
    func protectingEnvironment(_ alias: String) -> String? {
        controlPlane.platform.environments.values.sorted { $0.name < $1.name }.first { $0.promotion?.alias == alias }?.name
    }

    static func serves(_ serving: [ModelReference], model: String, version: SemanticVersion, aliases: [ModelAlias]) -> Bool {
        let names = Set([version.description] + aliases.filter { $0.version == version }.map(\.name))
        return serving.contains { $0.name == model && names.contains($0.version) }
    }

    static func requirePromoter(_ p: Principal, team: String, contract: PromotionContract?, env: String) throws {
        let promoters = contract?.promoters ?? []
        let allowed: Bool
        if promoters.isEmpty {
            allowed = p.canChange(team: team)
        } else {
            allowed = p.role != .viewer && promoters.contains { who in
                who == "role:admin" ? p.role == .admin : (who.hasPrefix("team:") && p.role == .member && p.team == String(who.dropFirst(5)))
            }
        }
        guard allowed else {
            let who = promoters.isEmpty ? "admins and members of team \(team)" : promoters.joined(separator: ", ")
            throw RuntimeError(.forbidden, "\(p.name) may not promote to \(env): its promotion contract lets \(who) promote")
        }
    }

    static func diagnostic(_ g: PromotionGates.Result, env: String) -> DiagnosticPayload {
        let message = g.failure ?? g.detail ?? "passed"
        let text = "  \(g.passed ? "pass" : "FAIL")  \(g.gate.rawValue): \(message)"
        return DiagnosticPayload(severity: g.passed ? "info" : "error", file: "environments.\(env).promotion", line: 0, column: 0, message: message,
                                 rule: g.gate.rawValue, help: nil, text: text)
    }
}

extension ModelRegistry.Promotion {
    public var view: PromotionView {
        PromotionView(team: version.team, model: version.model, version: version.version.description, env: env, alias: alias,
                      previous: previous?.description, promoted: promoted, dryRun: dryRun,
                      gates: gates.map { GateView(gate: $0.gate.rawValue, passed: $0.passed, message: $0.failure ?? $0.detail ?? "passed") })
    }
}

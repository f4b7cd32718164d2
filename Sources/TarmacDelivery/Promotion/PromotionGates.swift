import Foundation

/// The promotion contract, evaluated: for every gate an environment asks for, pass or why not. Pure: the same request and
/// policy give the same answer, so `tarmac promote` can show it before anything changes, and a refused promotion changes
/// nothing.
public enum PromotionGates {
    public enum Gate: String, Sendable, Hashable, CaseIterable {
        case signature, owner, review, warmRollback = "warm-rollback", analysis
    }

    public struct Result: Sendable, Hashable {
        public var gate: Gate
        /// nil: passed; otherwise what is missing, in words a user can act on.
        public var failure: String?
        /// What passing rested on (the key that verified, who approved), for the audit trail.
        public var detail: String?
        public var passed: Bool { failure == nil }

        public init(gate: Gate, failure: String?, detail: String?) {
            self.gate = gate
            self.failure = failure
            self.detail = detail
        }
    }

    /// Every gate the policy asks for, in a fixed order; gates it does not ask for are left out.
    public static func evaluate(_ r: PromotionRequest, under p: PromotionPolicy) -> [Result] {
        var out: [Result] = []
        if p.requireSignature {
            if let s = r.signature {
                switch ManifestSignature.verify(s, over: r.manifest, trusting: p.trustedKeys) {
                case .valid(let key): out.append(Result(gate: .signature, failure: nil, detail: "signed by \(key)"))
                case .invalid(let why): out.append(Result(gate: .signature, failure: "\(r.version)'s signature is refused: \(why)", detail: nil))
                }
            } else {
                out.append(Result(gate: .signature, failure: "\(r.version) is not signed, and this environment serves only signed versions "
                                  + "(sign its manifest: openssl dgst -sha256 -sign KEY manifest.json, or cosign sign-blob --key KEY manifest.json)", detail: nil))
            }
        }
        if p.requireOwner {
            let owner = r.owner?.trimmingCharacters(in: .whitespaces) ?? ""
            out.append(owner.isEmpty ? Result(gate: .owner, failure: "\(r.version) has no owner: name the person who answers for it", detail: nil)
                                     : Result(gate: .owner, failure: nil, detail: "owned by \(owner)"))
        }
        if p.requireReview {
            let others = r.approvers.filter { $0 != r.author }
            if others.isEmpty {
                let why = r.approvers.contains(r.author) ? "it was approved only by its author (\(r.author))" : "nobody approved it"
                out.append(Result(gate: .review, failure: "the serving document needs a review by someone other than its author: \(why)", detail: nil))
            } else {
                out.append(Result(gate: .review, failure: nil, detail: "approved by \(others.sorted().joined(separator: ", "))"))
            }
        }
        if p.requireWarmRollback {
            switch (r.rollbackTarget, r.rollbackTargetWarm) {
            case (nil, _): out.append(Result(gate: .warmRollback, failure: "no rollback target is named (spec.rollbackTarget)", detail: nil))
            case (let t?, false): out.append(Result(gate: .warmRollback, failure: "the rollback target \(t) is not serving now: a rollback to it would wait for a cold start", detail: nil))
            case (let t?, true): out.append(Result(gate: .warmRollback, failure: nil, detail: "rollback to \(t), warm"))
            }
        }
        if p.requireAnalysis {
            out.append(r.rules.isEmpty ? Result(gate: .analysis, failure: "the rollout has no analysis rules: it would promote without looking at the new version", detail: nil)
                                       : Result(gate: .analysis, failure: nil, detail: r.rules.map(\.description).joined(separator: ", ")))
        }
        return out
    }

    /// Whether every gate asked for passes.
    public static func allow(_ r: PromotionRequest, under p: PromotionPolicy) -> Bool { evaluate(r, under: p).allSatisfy(\.passed) }
}

import TarmacModel

/// The guardrails of an environment, applied to one workload. Each violation names its rule and the fix.
public enum Guardrail {
    public static func check(_ w: Workload, env: Environment, platform p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let g = env.guardrails
        let o = w.origin
        let image = ImageReference(w.image)

        if !g.allowedRegistries.isEmpty, let image, !g.allowedRegistries.contains(where: image.isAllowed(by:)) {
            // A registry one typo away from an allowed one is named: `registry.acme.exmaple` → `registry.acme.example`.
            let near = Suggestions.closest(to: image.registry, in: g.allowedRegistries.map { String($0.split(separator: "/").first ?? Substring($0)) }.filter { $0 != image.registry })
            out.append(.error(at: o.at("spec.image"), "image '\(w.image)' is from registry '\(image.registry)', which environment '\(env.name)' does not allow"
                              + (near.map { "; did you mean '\($0)'?" } ?? ""),
                              rule: "allowed-registries", help: "push the image to one of: \(g.allowedRegistries.joined(separator: ", "))"))
        }
        if g.requireOwner && w.metadata.owner == nil {
            out.append(.error(at: o.key("metadata"), "environment '\(env.name)' requires an owner", rule: "require-owner", help: "set metadata.owner to the person responsible"))
        }
        if g.requireSignedImages, let image, !image.isPinnedByDigest {
            out.append(.warning(at: o.at("spec.image"), "environment '\(env.name)' requires signed images; '\(w.image)' is not pinned by digest, so its signature cannot be tied to what runs",
                                rule: "signed-images", help: "refer to the image as NAME@sha256:DIGEST"))
        }
        if case .inference(let i) = w.details, g.requireRollbackTarget, i.rollbackTarget == nil {
            out.append(.error(at: o.key("spec"), "environment '\(env.name)' requires inference services to name a rollback target", rule: "rollback-target",
                              help: "set spec.rollbackTarget to the version to return to, e.g. \(i.model.name)@previous-version"))
        }
        for (i, d) in w.egress.enumerated() {
            if p.destinations[d] == nil {
                out.append(.error(at: o.at("spec.egress.\(i)"), "unknown destination '\(d)'" + Suggestions.hint(for: d, in: p.destinations.keys, noun: "destinations"), rule: "egress"))
            } else if !g.allowedEgress.contains(d) {
                out.append(.error(at: o.at("spec.egress.\(i)"), "environment '\(env.name)' does not allow egress to '\(d)'", rule: "egress",
                                  help: g.allowedEgress.isEmpty ? "this environment allows no egress" : "allowed destinations: \(g.allowedEgress.joined(separator: ", "))"))
            }
        }
        if let max = g.maxDuration, let d = w.maxDuration, d > max {
            out.append(.error(at: o.at("spec.maxDuration"), "maxDuration \(d) is longer than the \(max) environment '\(env.name)' allows", rule: "max-duration"))
        }
        return out
    }
}

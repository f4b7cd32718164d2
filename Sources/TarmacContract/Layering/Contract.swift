import TarmacModel

/// A loaded platform contract: the merged document of its `extends` chain, the environment overlays,
/// and, resolved for every environment and team, the typed `Platform` that workloads are checked against.
public struct Contract: Sendable {
    /// The file that was loaded.
    public let path: String
    /// The merged Platform document (base chain, before environment overlays and team overrides).
    public let document: YNode
    /// Environment name to its PlatformOverlay document.
    public let overlays: [String: YNode]
    /// Every file read, in the order read.
    public let files: [String]
    private let resolved: [Key: ResolvedContract]

    struct Key: Hashable {
        var env: String?
        var team: String?
    }

    init(path: String, document: YNode, overlays: [String: YNode], files: [String]) {
        self.path = path
        self.document = document
        self.overlays = overlays
        self.files = files
        var resolved: [Key: ResolvedContract] = [:]
        let base = Contract.resolve(document: document, overlays: overlays, env: nil, team: nil)
        resolved[Key(env: nil, team: nil)] = base
        let envs = [nil] + base.platform.environments.keys.sorted().map(Optional.some)
        let teams = [nil] + base.platform.teams.keys.sorted().map(Optional.some)
        for env in envs {
            for team in teams where env != nil || team != nil {
                resolved[Key(env: env, team: team)] = Contract.resolve(document: document, overlays: overlays, env: env, team: team)
            }
        }
        self.resolved = resolved
    }

    /// The contract as seen by a team in an environment. Unknown names resolve to the nearest known layer.
    public func resolve(env: String? = nil, team: String? = nil) -> ResolvedContract {
        resolved[Key(env: env, team: team)] ?? resolved[Key(env: env, team: nil)] ?? resolved[Key(env: nil, team: team)]
            ?? resolved[Key(env: nil, team: nil)]!
    }

    public var platform: Platform { resolve().platform }

    /// Every resolved variant: base, per environment, per team, per environment and team.
    public var variants: [ResolvedContract] {
        resolved.values.sorted { ($0.env ?? "", $0.team ?? "") < ($1.env ?? "", $1.team ?? "") }
    }

    static func resolve(document: YNode, overlays: [String: YNode], env: String?, team: String?) -> ResolvedContract {
        var spec = document["spec"] ?? YNode(.mapping([]), at: document.location)
        spec = spec.removing("extends")
        if let env, let overlay = overlays[env]?["spec"] {
            if let g = overlay["guardrails"], let envNode = spec["environments"]?[env] {
                let merged = envNode.setting("guardrails", to: envNode["guardrails"].map { Layering.merge($0, g) } ?? g)
                spec = spec.setting("environments", to: spec["environments"]!.setting(env, to: merged))
            }
            spec = Layering.merge(spec, overlay.removing("guardrails"))
        }
        if let team, let overrides = spec["teams"]?[team]?["overrides"]?["sizes"], let sizes = spec["sizes"] {
            // A team may change sizes that exist; an override of an unknown size is reported, not applied.
            var known = overrides
            for c in overrides.entries ?? [] {
                let existing = Set((sizes[c.key]?.entries ?? []).map(\.key))
                known = known.setting(c.key, to: YNode(.mapping((c.value.entries ?? []).filter { existing.contains($0.key) }), at: c.value.location))
            }
            spec = spec.setting("sizes", to: Layering.merge(sizes, known))
        }
        let doc = document.setting("spec", to: spec)
        return ResolvedContract(platform: PlatformDecoder.decode(doc), spec: spec, env: env, team: team)
    }
}

/// The contract for one environment and team: typed values plus the tree they came from (for provenance).
public struct ResolvedContract: Sendable {
    public let platform: Platform
    public let spec: YNode
    public let env: String?
    public let team: String?
}

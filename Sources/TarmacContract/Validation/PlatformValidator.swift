import Crypto
import TarmacModel

/// Semantic checks of a resolved contract: references between sections, sizes that fit their pools,
/// fractional GPUs that the accelerator can share, memory that matches the GPUs, quotas that name real resources.
public enum PlatformValidator {
    /// `malformed` holds locations of values that failed structural checks; entities owning one are skipped.
    public static func validate(_ contract: ResolvedContract, skipping malformed: Set<SourceLocation> = []) -> [Diagnostic] {
        let p = contract.platform
        func ok(_ o: Origin) -> Bool {
            malformed.isEmpty || !((o.location.map(malformed.contains) ?? false) || o.fields.values.contains(where: malformed.contains))
        }
        var out: [Diagnostic] = []
        let accelerators = p.accelerators.keys

        for pool in p.pools.values.sorted(by: { $0.name < $1.name }) where ok(pool.origin) {
            let o = pool.origin
            if let a = pool.accelerator {
                if p.accelerators[a] == nil {
                    out.append(.error(at: o.at("accelerator"), "pool '\(pool.name)' names unknown accelerator '\(a)'" + Suggestions.hint(for: a, in: accelerators, noun: "accelerators"), rule: "unknown-reference"))
                }
                if pool.gpusPerNode == 0 {
                    out.append(.error(at: o.key("gpusPerNode"), "pool '\(pool.name)' has accelerator '\(a)' but no gpusPerNode", rule: "missing-field", help: "set gpusPerNode to the devices of one node, e.g. 8"))
                }
            } else if pool.gpusPerNode > 0 {
                out.append(.error(at: o.at("gpusPerNode"), "pool '\(pool.name)' has gpusPerNode but no accelerator", rule: "unknown-reference", help: "name the accelerator of its nodes"))
            }
        }

        if let l = p.local, ok(l.origin), let a = l.accelerator, p.accelerators[a] == nil {
            out.append(.error(at: l.origin.at("accelerator"), "local names unknown accelerator '\(a)'" + Suggestions.hint(for: a, in: accelerators, noun: "accelerators"), rule: "unknown-reference"))
        }

        for (c, table) in p.sizes.sorted(by: { $0.key < $1.key }) {
            for size in table.values.sorted(by: { $0.name < $1.name }) where ok(size.origin) { out += validate(size: size, class: c, in: p) }
        }

        for team in p.teams.values.sorted(by: { $0.name < $1.name }) {
            let o = team.origin
            let teamNode = contract.spec["teams"]?[team.name]
            // Team overrides may change existing sizes only (checked where no team override is applied yet).
            if contract.team == nil, let overrides = teamNode?["overrides"]?["sizes"] {
                for c in WorkloadClass.allCases {
                    let known = (contract.spec["sizes"]?[c.rawValue]?.entries ?? []).map(\.key)
                    for e in overrides[c.rawValue]?.entries ?? [] where !known.contains(e.key) {
                        out.append(.error(at: e.keyLocation, "team '\(team.name)' overrides unknown \(c.rawValue) size '\(e.key)'"
                                          + Suggestions.hint(for: e.key, in: known, noun: "\(c.rawValue) sizes"), rule: "unknown-reference"))
                    }
                }
            }
            for field in ["quota", "borrowingLimit", "lendingLimit"] {
                if let node = teamNode?[field] { out += validate(amounts: node, field: field, team: team.name, platform: p) }
            }
            if let b = team.budget {
                if b.monthly == nil && b.gpuHours == nil {
                    out.append(.error(at: o.key("budget"), "team '\(team.name)' has a budget with neither monthly nor gpuHours", rule: "budget", help: "set monthly (money), gpuHours, or both"))
                }
                if b.warnAt > 1 {
                    out.append(.error(at: o.at("budget.warnAt"), "warnAt is a share of the budget, at most 1 (0.8 is 80%), not \(b.warnAt)", rule: "budget"))
                }
                if b.monthly != nil, p.costs.cpuCoreHour == nil, p.costs.memoryGiBHour == nil, !p.accelerators.values.contains(where: { $0.hourlyCost != nil }) {
                    out.append(.warning(at: o.at("budget.monthly"), "team '\(team.name)' has a monthly budget in money, and the contract prices nothing (no hourlyCost, no costs): its spend stays 0",
                                        rule: "budget", help: "set the accelerators' hourlyCost and costs.cpuCoreHour / costs.memoryGiBHour"))
                }
            }
            if team.borrowingLimit != nil {
                if team.cohort == nil {
                    out.append(.error(at: o.key("borrowingLimit"), "team '\(team.name)' has a borrowingLimit but no cohort to borrow from", rule: "cohort", help: "set cohort, or remove borrowingLimit"))
                }
            }
            if let cohort = team.cohort, p.cohorts[cohort]?.count == 1 {
                out.append(.warning(at: o.at("cohort"), "team '\(team.name)' is alone in cohort '\(cohort)': there is no one to borrow from or lend to", rule: "cohort"))
            }
            if team.quota.isEmpty && team.cohort == nil {
                out.append(.warning(at: o.location, "team '\(team.name)' has no quota and no cohort: it can never run anything", rule: "quota"))
            }
        }

        for (i, name) in p.preemption.nonPreempting.enumerated() where p.priorities[name] == nil {
            out.append(.error(at: p.origin.at("preemption.nonPreempting.\(i)"), "non-preempting priority '\(name)' is not defined" + Suggestions.hint(for: name, in: p.priorities.keys, noun: "priorities"), rule: "unknown-reference"))
        }
        for (c, name) in p.defaults.priority.sorted(by: { $0.key < $1.key }) where p.priorities[name] == nil {
            out.append(.error(at: p.origin.at("defaults.priority.\(c.rawValue)"), "default priority '\(name)' is not defined" + Suggestions.hint(for: name, in: p.priorities.keys, noun: "priorities"), rule: "unknown-reference"))
        }

        for env in p.environments.values.sorted(by: { $0.name < $1.name }) {
            for (i, d) in env.guardrails.allowedEgress.enumerated() where p.destinations[d] == nil {
                out.append(.error(at: env.guardrails.origin.at("allowedEgress.\(i)"), "environment '\(env.name)' allows egress to unknown destination '\(d)'"
                                  + Suggestions.hint(for: d, in: p.destinations.keys, noun: "destinations"), rule: "unknown-reference"))
            }
            for (i, r) in env.guardrails.allowedRegistries.enumerated() where r.contains("://") || r.contains(" ") {
                out.append(.error(at: env.guardrails.origin.at("allowedRegistries.\(i)"), "registry '\(r)' must be a host or host/path, without a scheme", rule: "invalid-value"))
            }
            for (c, idle) in env.idle.sorted(by: { $0.key < $1.key }) {
                let o = idle.origin
                if idle.gpuUtilizationBelow > 100 {
                    out.append(.error(at: o.at("gpuUtilizationBelow") ?? o.location, "environment '\(env.name)': idle.\(c.rawValue).gpuUtilizationBelow is a percent, at most 100, not \(String(format: "%g", idle.gpuUtilizationBelow))", rule: "idle"))
                }
                if idle.duration.seconds <= 0 {
                    out.append(.error(at: o.at("for") ?? o.location, "environment '\(env.name)': idle.\(c.rawValue).for must be longer than 0s: a GPU is idle over a while, not in one reading", rule: "idle"))
                }
                if idle.action == .scaleToZero, c != .inference {
                    out.append(.error(at: o.at("action") ?? o.location, "environment '\(env.name)': only inference services scale to zero (on their next request they come back); \(c.rawValue) workloads cannot",
                                      rule: "idle", help: "use action: stop (the workload is cancelled) or notify"))
                }
            }
        }

        out += clusterProblems(p)
        out += promotionProblems(p)
        out += identityProblems(p.identity)
        if p.metrics.prometheus == nil, !p.metrics.queries.isEmpty {
            out.append(.error(at: p.metrics.origin.at("queries"), "metrics.queries are read from a Prometheus, and none is named", rule: "metrics-prometheus",
                              help: "add metrics.prometheus: http://prometheus.monitoring:9090"))
        }
        for tool in p.tools.values.sorted(by: { $0.name < $1.name }) {
            if tool.scopes.isEmpty {
                out.append(.error(at: tool.origin.key("scopes"), "tool '\(tool.name)' declares no scopes", rule: "tool-scopes", help: "list the scopes it understands, e.g. [read]"))
            }
            for (i, s) in tool.sensitiveScopes.enumerated() where !tool.scopes.contains(s) {
                out.append(.error(at: tool.origin.at("sensitiveScopes.\(i)"), "sensitive scope '\(s)' is not one of tool '\(tool.name)' scopes" + Suggestions.hint(for: s, in: tool.scopes, noun: "scopes"), rule: "tool-scopes"))
            }
            out += gatewayProblems(tool, teams: p.teams.keys)
            if tool.cidr == nil {
                out.append(.warning(at: tool.origin.location, "tool '\(tool.name)' has no cidr: agents cannot be given network access to it", rule: "egress", help: "set cidr (and port) so network policy can allow exactly this tool"))
            }
        }
        return out
    }

    /// The gateway's view of a tool: every scope it names is one of the tool's, approvers name a role or a team.
    static func gatewayProblems(_ tool: Tool, teams: Dictionary<String, Team>.Keys) -> [Diagnostic] {
        var out: [Diagnostic] = []
        func unknownScope(_ s: String, at path: String) {
            guard !tool.scopes.contains(s) else { return }
            out.append(.error(at: tool.origin.at(path), "scope '\(s)' is not one of tool '\(tool.name)' scopes" + Suggestions.hint(for: s, in: tool.scopes, noun: "scopes"), rule: "tool-scopes"))
        }
        for (i, r) in tool.routes.enumerated() { unknownScope(r.scope, at: "routes.\(i).scope") }
        for (name, r) in (tool.mcp?.tools ?? [:]).sorted(by: { $0.key < $1.key }) { unknownScope(r.scope, at: "mcp.tools.\(name).scope") }
        for (scope, g) in tool.grants.sorted(by: { $0.key < $1.key }) {
            guard tool.scopes.contains(scope) else {
                out.append(.error(at: tool.origin.key("grants.\(scope)"), "grant rule for '\(scope)', which is not one of tool '\(tool.name)' scopes" + Suggestions.hint(for: scope, in: tool.scopes, noun: "scopes"), rule: "tool-scopes"))
                continue
            }
            if let a = g.approvers {
                if a.hasPrefix("team:") {
                    let team = String(a.dropFirst(5))
                    if !teams.contains(team) {
                        out.append(.error(at: tool.origin.at("grants.\(scope).approvers"), "approvers name unknown team '\(team)'" + Suggestions.hint(for: team, in: teams, noun: "teams"), rule: "unknown-reference"))
                    }
                } else if a != "role:admin" {
                    out.append(.error(at: tool.origin.at("grants.\(scope).approvers"), "approvers must be role:admin or team:NAME, not '\(a)'", rule: "invalid-value"))
                }
            }
        }
        if let c = tool.upstreamCredential, c.isEmpty || !c.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) {
            out.append(.error(at: tool.origin.at("upstreamCredential"), "upstreamCredential must name an environment variable (A-Z, 0-9, _), not '\(c)'", rule: "invalid-value"))
        }
        if let u = tool.upstream, !(u.hasPrefix("http://") || u.hasPrefix("https://")) {
            out.append(.error(at: tool.origin.at("upstream"), "upstream must be an http:// or https:// URL, not '\(u)'", rule: "invalid-value"))
        }
        if tool.upstream != nil && tool.routes.isEmpty && tool.mcp == nil {
            out.append(.error(at: tool.origin.key("upstream"), "tool '\(tool.name)' has an upstream but no routes or mcp section: the gateway would refuse every call", rule: "tool-routes", help: "add routes: [{path: /, scope: read}]"))
        }
        return out
    }

    static func identityProblems(_ i: IdentitySettings) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if let td = i.trustDomain, SPIFFEID(trustDomain: td, segments: []) == nil {
            out.append(.error(at: i.origin.at("trustDomain"), "'\(td)' is not a SPIFFE trust domain (lowercase letters, digits, '.', '-', '_')", rule: "invalid-value"))
        }
        if i.svidLifetime.seconds > 3600 { out.append(.error(at: i.origin.at("svidLifetime"), "svidLifetime is at most 1h", rule: "invalid-value")) }
        if i.maxTokenLifetime.seconds > 3600 { out.append(.error(at: i.origin.at("maxTokenLifetime"), "maxTokenLifetime is at most 1h", rule: "invalid-value")) }
        if i.keyRotation.seconds < 3600 { out.append(.error(at: i.origin.at("keyRotation"), "keyRotation is at least 1h", rule: "invalid-value")) }
        return out
    }

    static func validate(size: Size, class c: WorkloadClass, in p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = size.origin
        let ref = size.reference
        var accelerator: Accelerator?
        if let a = size.accelerator {
            accelerator = p.accelerators[a]
            if accelerator == nil {
                out.append(.error(at: o.at("accelerator"), "size '\(ref)' names unknown accelerator '\(a)'" + Suggestions.hint(for: a, in: p.accelerators.keys, noun: "accelerators"), rule: "unknown-reference"))
                return out
            }
            if size.gpus == .zero {
                out.append(.error(at: o.key("accelerator"), "size '\(ref)' names accelerator '\(a)' but asks for no gpus", rule: "non-positive", help: "set gpus (e.g. 1 or 0.5), or remove accelerator for a CPU size"))
                return out
            }
        } else if size.gpus > .zero {
            out.append(.error(at: o.at("gpus"), "size '\(ref)' asks for \(size.gpus) GPUs but names no accelerator" + Suggestions.hint(for: "", in: p.accelerators.keys, noun: "accelerators"), rule: "unknown-reference"))
            return out
        }
        if let a = accelerator, size.gpus.isFractional {
            if size.gpus.thousandths > 1000 {
                out.append(.error(at: o.at("gpus"), "size '\(ref)' asks for \(size.gpus) GPUs; amounts above 1 must be whole GPUs", rule: "gpu-fraction"))
            } else if let sharing = a.sharing {
                if (size.gpus.thousandths * sharing.maxPerGPU) % 1000 != 0 {
                    out.append(.error(at: o.at("gpus"), "size '\(ref)' asks for \(size.gpus) GPUs, but '\(a.name)' is shared in slices of 1/\(sharing.maxPerGPU)",
                                      rule: "gpu-fraction", help: "use a multiple of \(GPUAmount(thousandths: 1000 / sharing.maxPerGPU)) GPUs"))
                }
            } else {
                out.append(.error(at: o.at("gpus"), "size '\(ref)' asks for \(size.gpus) GPUs, but accelerator '\(a.name)' does not allow sharing",
                                  rule: "gpu-fraction", help: "ask for whole GPUs, or declare sharing: {maxPerGPU: N} on the accelerator"))
            }
        }

        for (i, name) in size.pools.enumerated() {
            guard let pool = p.pools[name] else {
                out.append(.error(at: o.at("pools.\(i)"), "size '\(ref)' names unknown pool '\(name)'" + Suggestions.hint(for: name, in: p.pools.keys, noun: "pools"), rule: "unknown-reference"))
                continue
            }
            if pool.accelerator != size.accelerator || !pool.classes.contains(c) {
                let has = pool.accelerator.map { "accelerator '\($0)'" } ?? "no accelerator"
                out.append(.error(at: o.at("pools.\(i)"), "size '\(ref)' names pool '\(name)', which has \(has) and classes [\(pool.classes.map(\.rawValue).joined(separator: ", "))]",
                                  rule: "no-pool", help: "a size's pools must have its accelerator and run its class"))
            }
        }
        if !size.pools.isEmpty && size.pools.contains(where: { p.pools[$0] == nil }) { return out }
        let pools = p.pools(for: size)
        if pools.isEmpty {
            let what = size.accelerator.map { "accelerator '\($0)'" } ?? "no accelerator"
            let sameAccel = p.pools.values.filter { $0.accelerator == size.accelerator }.map(\.name).sorted()
            let detail = sameAccel.isEmpty ? (size.accelerator == nil ? "no pool is CPU-only" : "no pool has \(what)")
                : "pools with \(what) (\(sameAccel.joined(separator: ", "))) do not run class '\(c.rawValue)'"
            out.append(.error(at: o.location, "size '\(ref)' cannot run anywhere: \(detail)", rule: "no-pool",
                              help: sameAccel.isEmpty ? "add a pool with this accelerator" : "add '\(c.rawValue)' to the classes of one of those pools"))
        } else if !pools.contains(where: { $0.canHost(size) }) {
            let biggest = pools.max { ($0.gpusPerNode, $0.cpuPerNode.millis, $0.memoryPerNode.bytes) < ($1.gpusPerNode, $1.cpuPerNode.millis, $1.memoryPerNode.bytes) }!
            var problems: [(String, String)] = []
            if size.gpus.wholeGPUs > biggest.gpusPerNode { problems.append(("gpus", "\(size.gpus) GPUs but the largest node of pool '\(biggest.name)' has \(biggest.gpusPerNode)")) }
            if size.cpu > biggest.cpuPerNode { problems.append(("cpu", "\(size.cpu) CPU but the largest node of pool '\(biggest.name)' has \(biggest.cpuPerNode)")) }
            if size.memory > biggest.memoryPerNode { problems.append(("memory", "\(size.memory) memory but the largest node of pool '\(biggest.name)' has \(biggest.memoryPerNode)")) }
            if problems.isEmpty { problems.append(("cpu", "more than any single node of its pools offers")) }
            for (field, text) in problems {
                out.append(.error(at: o.at(field), "size '\(ref)' needs \(text)", rule: "size-fit", help: "a pod runs on one node: shrink the size or add larger nodes"))
            }
        }
        if size.topology == .domain, !pools.isEmpty, pools.allSatisfy({ $0.topologyKey == nil }) {
            out.append(.error(at: o.at("topology"), "size '\(ref)' asks for one topology domain, but its pools declare no topologyKey", rule: "topology",
                              help: "set topologyKey (e.g. topology.kubernetes.io/zone) on the pool"))
        }
        if let a = accelerator, let gpuMemory = a.memory, size.gpus.thousandths >= 1000 {
            let perGPU = size.memory.bytes / Int64(max(1, size.gpus.wholeGPUs))
            if perGPU < gpuMemory.bytes {
                out.append(.warning(at: o.at("memory"), "size '\(ref)' gives \(ByteQuantity(bytes: perGPU)) of host memory per GPU, less than the \(gpuMemory) of one '\(a.name)'",
                                    rule: "memory-per-gpu", help: "jobs that stage a model or checkpoint through host memory will be OOM-killed again and again; give at least \(ByteQuantity(bytes: gpuMemory.bytes * Int64(size.gpus.wholeGPUs))) of memory"))
            }
        }
        if size.usesGPU, c == .training, size.shm == nil {
            out.append(.warning(at: o.location, "GPU training size '\(ref)' sets no shm: PyTorch data loaders fail with the default 64Mi /dev/shm", rule: "shm",
                                help: "set shm, e.g. shm: 16Gi"))
        }
        if let shm = size.shm, shm.bytes * 2 > size.memory.bytes {
            out.append(.warning(at: o.at("shm"), "size '\(ref)' shm (\(shm)) is more than half its memory (\(size.memory)); /dev/shm counts against the memory limit", rule: "shm"))
        }
        return out
    }

    /// Quota keys name accelerators (GPUs), cpu (cores) or memory (bytes); zero is allowed (a team may only borrow).
    static func validate(amounts node: YNode, field: String, team: String, platform p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let valid = p.accelerators.keys.sorted() + ["cpu", "memory"]
        for e in node.entries ?? [] {
            let what = "team '\(team)' \(field).\(e.key)"
            guard valid.contains(e.key) else {
                out.append(.error(at: e.keyLocation, "team '\(team)' \(field) names unknown resource '\(e.key)'" + Suggestions.hint(for: e.key, in: valid, noun: "resources"), rule: "unknown-reference"))
                continue
            }
            guard let text = e.value.text else { continue }
            let loc = e.value.location
            let failure: String? = switch e.key {
            case "cpu": if case .failure(let f) = CPUQuantity.parse(text, allowZero: true) { "\(f)" } else { nil }
            case "memory": if case .failure(let f) = ByteQuantity.parse(text, allowZero: true) { "\(f)" } else { nil }
            default: if case .failure(let f) = GPUAmount.parse(text) { "\(f)" } else { nil }
            }
            guard let failure else { continue }
            if failure.hasPrefix("negative") {
                out.append(.error(at: loc, "\(what) must not be negative, got '\(text)'", rule: "non-positive"))
            } else {
                let unit = e.key == "cpu" ? "a CPU quantity" : e.key == "memory" ? "a memory quantity" : "a number of GPUs"
                out.append(.error(at: loc, "\(what): '\(text)' is not \(unit)", rule: "invalid-quantity"))
            }
        }
        return out
    }

    /// Each environment's promotion contract: keys that are P-256 public keys, promoters that name a role or a team, one
    /// environment per alias, and gates that something could pass.
    static func promotionProblems(_ p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        var byAlias: [String: String] = [:]
        for env in p.environments.values.sorted(by: { $0.name < $1.name }) {
            guard let c = env.promotion else { continue }
            let o = c.origin
            if let other = byAlias[c.alias] {
                out.append(.error(at: o.at("alias") ?? o.location, "environments '\(other)' and '\(env.name)' both promote to alias '\(c.alias)'",
                                  rule: "promotion", help: "give each environment its own alias"))
            }
            byAlias[c.alias] = env.name
            for (i, who) in c.promoters.enumerated() {
                let parts = who.split(separator: ":", maxSplits: 1).map(String.init)
                if parts.count == 2, parts[0] == "role", parts[1] == "admin" { continue }
                if parts.count == 2, parts[0] == "team" {
                    if p.teams[parts[1]] == nil {
                        out.append(.error(at: o.at("promoters.\(i)"), "promoter '\(who)' names no team of this platform" + Suggestions.hint(for: parts[1], in: p.teams.keys, noun: "teams"),
                                          rule: "unknown-reference"))
                    }
                    continue
                }
                out.append(.error(at: o.at("promoters.\(i)"), "promoter '\(who)' is neither role:admin nor team:NAME", rule: "promotion"))
            }
            for (name, pem) in c.trustedKeys.sorted(by: { $0.key < $1.key }) where (try? P256.Signing.PublicKey(pemRepresentation: pem)) == nil {
                out.append(.error(at: o.at("trustedKeys.\(name)"), "trusted key '\(name)' is not a P-256 public key in PEM (-----BEGIN PUBLIC KEY-----)",
                                  rule: "promotion", help: "openssl ec -in release.key -pubout prints one"))
            }
            if c.requireSignature && c.trustedKeys.isEmpty {
                out.append(.error(at: o.at("requireSignature") ?? o.location, "environment '\(env.name)' requires signatures but trusts no key: no version could be promoted",
                                  rule: "promotion", help: "add trustedKeys"))
            }
        }
        return out
    }
}

import TarmacModel

/// Every resolved value of a contract (or of one size) with the file:line it came from.
public struct Explanation: Sendable, Codable {
    public struct Row: Sendable, Codable, Equatable {
        public var path: String
        public var value: String
        public var source: SourceLocation
    }

    public var env: String?
    public var team: String?
    public var subject: String
    public var rows: [Row]
    /// Derived facts (pools, fit, cost), for sizes.
    public var facts: [String]
}

public enum Explainer {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownSize(String, hint: String)
        case ambiguous(String, [String])
        case unknownEnv(String, hint: String)
        case unknownTeam(String, hint: String)

        public var description: String {
            switch self {
            case .unknownSize(let s, let hint): "unknown size '\(s)'\(hint)"
            case .ambiguous(let s, let refs): "size '\(s)' exists in several classes; name one of: \(refs.joined(separator: ", "))"
            case .unknownEnv(let e, let hint): "unknown environment '\(e)'\(hint)"
            case .unknownTeam(let t, let hint): "unknown team '\(t)'\(hint)"
            }
        }
    }

    /// Explains the whole resolved contract, or one size (`large` or `training/large`).
    public static func explain(_ contract: Contract, env: String?, team: String?, size ref: String?) -> Result<Explanation, Failure> {
        let base = contract.platform
        if let env, base.environments[env] == nil { return .failure(.unknownEnv(env, hint: Suggestions.hint(for: env, in: base.environments.keys, noun: "environments"))) }
        if let team, base.teams[team] == nil { return .failure(.unknownTeam(team, hint: Suggestions.hint(for: team, in: base.teams.keys, noun: "teams"))) }
        let resolved = contract.resolve(env: env, team: team)
        guard let ref else {
            let rows = resolved.spec.leaves().map { Explanation.Row(path: $0.path, value: display($0.node), source: $0.node.location) }
            return .success(Explanation(env: env, team: team, subject: resolved.platform.name, rows: rows, facts: []))
        }
        let p = resolved.platform
        var matches: [Size] = []
        let parts = ref.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2, let c = WorkloadClass(rawValue: parts[0]) {
            if let s = p.sizes[c]?[parts[1]] { matches = [s] }
        } else {
            matches = WorkloadClass.allCases.compactMap { p.sizes[$0]?[ref] }
        }
        guard let size = matches.first else {
            let all = WorkloadClass.allCases.flatMap { c in (p.sizes[c] ?? [:]).keys.map { "\(c.rawValue)/\($0)" } }
            let names = parts.count == 2 ? all : all.map { String($0.split(separator: "/")[1]) }
            return .failure(.unknownSize(ref, hint: Suggestions.hint(for: parts.last ?? ref, in: Set(names), noun: "sizes")))
        }
        if matches.count > 1 { return .failure(.ambiguous(ref, matches.map(\.reference))) }
        let node = resolved.spec["sizes"]?[size.workloadClass.rawValue]?[size.name]
        let rows = (node?.leaves() ?? []).map { Explanation.Row(path: $0.path, value: display($0.node), source: $0.node.location) }
        return .success(Explanation(env: env, team: team, subject: size.reference, rows: rows, facts: facts(size, p)))
    }

    static func display(_ node: YNode) -> String {
        switch node.value {
        case .scalar(let s, _): s
        case .mapping: "{}"
        case .sequence: "[]"
        }
    }

    static func facts(_ size: Size, _ p: Platform) -> [String] {
        var out: [String] = []
        let pools = p.pools(for: size)
        for pool in pools {
            let fits = pool.canHost(size)
            let perNode = pool.podsPerNode(size)
            out.append("runs on pool \(pool.name): \(pool.nodes) nodes of \(pool.gpusPerNode > 0 ? "\(pool.gpusPerNode)×\(pool.accelerator ?? "") GPU, " : "")\(pool.cpuPerNode) CPU, \(pool.memoryPerNode); "
                       + (fits ? "\(perNode) per node, \(perNode * pool.nodes) in the pool" : "does not fit on one node"))
        }
        if pools.isEmpty { out.append("no pool runs this size") }
        var hourly = 0.0
        if let a = size.accelerator.flatMap({ p.accelerators[$0] }), let c = a.hourlyCost { hourly += c * Double(size.gpus.thousandths) / 1000 }
        if let c = p.costs.cpuCoreHour { hourly += c * size.cpu.cores }
        if let m = p.costs.memoryGiBHour { hourly += m * size.memory.gibibytes }
        if hourly > 0 { out.append("costs about \(String(format: "%.2f", hourly)) per pod-hour") }
        if let a = size.accelerator.flatMap({ p.accelerators[$0] }), size.usesGPU {
            out.append("GPU: \(size.gpus) × \(a.name)\(a.product.map { " (\($0))" } ?? "")" + (size.gpus.isFractional ? ", shared time-sliced" : ""))
        }
        return out
    }
}

import TarmacModel

/// Checks a workload against the contract of its team and environment: references, capacity and guardrails.
public enum WorkloadValidator {
    /// Environment variables Tarmac sets itself.
    public static let reservedEnv: Set<String> = ["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "NODE_RANK", "LOCAL_RANK",
                                                  "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "PET_NNODES", "PET_NPROC_PER_NODE"]

    /// What a size is, in a few words: `1 CPU, 1Gi, no GPU`, `8 h100 GPUs, 96 CPUs, 900Gi`.
    public static func summary(_ s: Size) -> String {
        let cores = Double(s.cpu.millis) / 1000
        let cpu = "\(String(format: "%g", cores)) CPU\(cores > 1 ? "s" : "")"
        let memory = s.memory.readable
        guard let a = s.accelerator, s.gpus.thousandths > 0 else { return "\(cpu), \(memory), no GPU" }
        let gpus = "\(s.gpus) \(a) GPU\(s.gpus.thousandths > 1000 ? "s" : "")"
        return "\(gpus), \(cpu), \(memory)"
    }

    /// `; did you mean 'x' (what x is)? training sizes: a (...), b (...)`: the closest size of the workload's class (a
    /// CPU-only one when the name says cpu), then every size of the class with what it is.
    static func sizeHint(_ name: String, in table: [String: Size], workloadClass c: WorkloadClass) -> String {
        guard !table.isEmpty else { return "; no \(c.rawValue) sizes are defined" }
        let all = table.keys.sorted().map { "\($0) (\(summary(table[$0]!)))" }.joined(separator: ", ")
        var candidates = table
        if name.lowercased().contains("cpu") {
            let cpuOnly = table.filter { $0.value.accelerator == nil || $0.value.gpus.thousandths == 0 }
            if !cpuOnly.isEmpty { candidates = cpuOnly }
        }
        let close = Suggestions.closest(to: name, in: candidates.keys) ?? (candidates.count < table.count ? candidates.keys.sorted().first : nil)
        guard let close, let s = table[close] else { return "; \(c.rawValue) sizes: \(all)" }
        return "; did you mean '\(close)' (\(summary(s)))? \(c.rawValue) sizes: \(all)"
    }

    /// What a kind checks beyond what every workload gets (`WorkloadKind.validate` in TarmacKinds), given the size the
    /// workload asks for (nil: unknown) and its team's platform.
    public typealias KindChecks = @Sendable (_ w: Workload, _ size: Size?, _ platform: Platform) -> [Diagnostic]

    /// The checks every workload gets, then `kind`'s (TarmacKinds' `Kinds.validate` passes each kind's own).
    public static func validate(_ w: Workload, against contract: Contract, kind: KindChecks = { _, _, _ in [] }) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = w.origin
        let base = contract.platform
        let md = w.metadata

        if w.metadata.name.count > 52 {
            out.append(.error(at: o.at("metadata.name"), "name '\(md.name)' is \(md.name.count) characters; workload names are at most 52 (pod names add a suffix)", rule: "invalid-name"))
        }
        if !md.team.isEmpty, base.teams[md.team] == nil {
            out.append(.error(at: o.at("metadata.team"), "unknown team '\(md.team)'" + Suggestions.hint(for: md.team, in: base.teams.keys, noun: "teams"), rule: "unknown-reference"))
        }
        if !md.env.isEmpty, base.environments[md.env] == nil {
            out.append(.error(at: o.at("metadata.env"), "unknown environment '\(md.env)'" + Suggestions.hint(for: md.env, in: base.environments.keys, noun: "environments"), rule: "unknown-reference"))
        }
        let resolved = contract.resolve(env: base.environments[md.env] == nil ? nil : md.env, team: base.teams[md.team] == nil ? nil : md.team)
        let p = resolved.platform
        let c = w.workloadClass
        let table = p.sizes[c] ?? [:]

        let size = p.size(for: w)
        if size == nil, !w.size.isEmpty {
            let other = WorkloadClass.allCases.filter { $0 != c && p.sizes[$0]?[w.size] != nil }
            var message = "unknown \(c.rawValue) size '\(w.size)'"
            if let oc = other.first { message += " ('\(w.size)' is a \(oc.rawValue) size)" }
            message += Self.sizeHint(w.size, in: table, workloadClass: c)
            out.append(.error(at: o.at("spec.size"), message, rule: "unknown-size", help: "`tarmac sizes` lists the sizes this server can start now; tarmac explain --platform \(contract.path) every value of each"))
        }

        if let prio = w.priority, p.priorities[prio] == nil {
            out.append(.error(at: o.at("spec.priority"), "unknown priority '\(prio)'" + Suggestions.hint(for: prio, in: p.priorities.keys, noun: "priorities"), rule: "unknown-reference"))
        }
        var mountPaths: [String: Int] = [:]
        for (i, d) in w.datasets.enumerated() {
            if p.datasets[d.name] == nil {
                out.append(.error(at: o.at("spec.datasets.\(i).name"), "unknown dataset '\(d.name)'" + Suggestions.hint(for: d.name, in: p.datasets.keys, noun: "datasets"), rule: "unknown-reference"))
            }
            if let j = mountPaths[d.mountPath] {
                out.append(.error(at: o.at("spec.datasets.\(i).mountPath"), "mountPath '\(d.mountPath)' is already used by datasets[\(j)]", rule: "invalid-value"))
            }
            mountPaths[d.mountPath] = i
        }
        for e in w.env where reservedEnv.contains(e.name) || e.name.hasPrefix("TARMAC_") {
            out.append(.error(at: o.key("spec.env.\(e.name)"), "environment variable '\(e.name)' is set by Tarmac", rule: "reserved-env", help: "remove it; Tarmac sets it from the size and placement"))
        }
        out += processInputs(w)

        out += kind(w, size, p)
        if let env = p.environments[md.env] { out += Guardrail.check(w, env: env, platform: p) }
        // Checks that read numbers and durations only run on a structurally valid document:
        // a malformed value must not cascade into a second, misleading problem.
        if w.isValid {
            if let size {
                let pools = p.pools(for: size).filter { $0.canHost(size) }.map(\.name)
                let datasets = w.datasets.map(\.name).filter { p.datasets[$0] != nil }
                if !pools.isEmpty, p.clusters(environment: md.env, pools: pools, datasets: datasets)?.isEmpty == true {
                    out.append(.error(at: o.at(datasets.isEmpty ? "metadata.env" : "spec.datasets"), "no cluster can run it: " + p.whyNoCluster(environment: md.env, pools: pools, datasets: datasets),
                                      rule: "no-cluster", help: "choose an environment, size or dataset that one cluster has together (tarmac clusters lists them)"))
                }
            }
            if let size { out += capacity(w, size, p) }
            out += hygiene(w, size, p)
        }
        return out
    }

    /// A workload whose pods can never all run at once is refused: it would wait forever.
    static func capacity(_ w: Workload, _ size: Size, _ p: Platform) -> [Diagnostic] {
        let pools = p.pools(for: size).filter { $0.canHost(size) }
        guard !pools.isEmpty else { return [] }  // reported on the size itself
        var slots = 0
        for pool in pools {
            slots += pool.podsPerNode(size) * pool.nodes
        }
        let needed = w.podCount
        guard needed > slots else { return [] }
        let what: String
        let field: String
        switch w.details {
        case .training: (what, field) = ("\(needed) workers", "spec.workers")
        case .batch: (what, field) = ("\(needed) tasks in parallel", "spec.parallelism")
        case .inference: (what, field) = ("\(needed) replicas", "spec.replicas")
        case .agent: (what, field) = ("1 pod", "spec.size")
        }
        let message = "needs \(what) of size '\(size.reference)' at once, but its pools (\(pools.map(\.name).joined(separator: ", "))) hold at most \(slots)"
        if case .batch = w.details {
            return [.warning(at: w.origin.at(field), message + "; tasks beyond that wait", rule: "capacity")]
        }
        return [.error(at: w.origin.at(field), message, rule: "capacity", help: "ask for fewer, or a smaller size")]
    }

    /// What reaches a process must be passable to it: no NUL byte in an argument or an environment value (the kernel
    /// cannot pass one), a command that names something, and an owner that is one printable line (it appears in logs,
    /// audit records and labels).
    static func processInputs(_ w: Workload) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = w.origin
        if let owner = w.metadata.owner, let bad = owner.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .lineSeparator || $0.properties.generalCategory == .paragraphSeparator }) {
            out.append(.error(at: o.at("metadata.owner"), "owner contains the control character \(Self.describe(bad)); an owner is one printable line, such as alice@acme.example", rule: "invalid-value"))
        }
        if let first = w.command.first, first.trimmingCharacters(in: .whitespaces).isEmpty {
            out.append(.error(at: o.at("spec.command.0"), "the command's first element is empty: it must name the program to run", rule: "invalid-value",
                              help: "e.g. command: [python3, train.py]"))
        }
        for (field, list) in [("command", w.command), ("args", w.args)] {
            for (i, a) in list.enumerated() where a.utf8.contains(0) {
                out.append(.error(at: o.at("spec.\(field).\(i)"), "spec.\(field)[\(i)] contains a NUL byte, which no process can receive", rule: "invalid-value"))
            }
        }
        for e in w.env {
            if e.value.utf8.contains(0) {
                out.append(.error(at: o.key("spec.env.\(e.name)"), "environment variable '\(e.name)' contains a NUL byte, which no process can receive", rule: "invalid-value"))
            }
            if e.name.utf8.contains(0) || e.name.contains("=") || e.name.isEmpty {
                out.append(.error(at: o.key("spec.env.\(e.name)"), "environment variable name \(String(reflecting: e.name)) is not a valid name", rule: "invalid-value",
                                  help: "use letters, digits and underscores, e.g. LOG_LEVEL"))
            }
        }
        return out
    }

    static func describe(_ c: Unicode.Scalar) -> String {
        let hex = String(c.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    static func hygiene(_ w: Workload, _ size: Size?, _ p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = w.origin
        if let image = ImageReference(w.image), image.digest == nil, image.tag == nil || image.tag == "latest" {
            out.append(.warning(at: o.at("spec.image"), "image '\(w.image)' has \(image.tag == nil ? "no tag" : "the tag 'latest'"): reruns may run different code", rule: "image-tag",
                                help: "pin a version tag or a digest"))
        }
        if let owner = w.metadata.owner, let team = p.teams[w.metadata.team], !team.members.isEmpty, !team.members.contains(owner) {
            out.append(.warning(at: o.at("metadata.owner"), "owner '\(owner)' is not a member of team '\(team.name)'", rule: "owner"))
        }
        return out
    }
}

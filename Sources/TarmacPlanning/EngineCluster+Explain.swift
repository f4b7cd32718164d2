import TarmacEngine
import TarmacModel

extension EngineCluster {
    /// Why a workload waits, in the user's names and units: accelerators by their contract name, CPUs in cores, memory
    /// as `100Gi`; never the engine's model indices.
    public func explain(_ reason: WaitReason, team: String) -> String {
        guard case .quota(let q) = reason else { return reason.description }
        guard q.resource != "team" else { return "quota: \(q.detail)" }
        guard !q.resource.hasPrefix("budget") else { return "budget: \(q.detail)" }
        // "needs 16 h100 GPUs, 8 available": the unit is said once (memory keeps its unit on both).
        let available = q.resource == "memory" ? amount(q.available, of: q.resource) : Self.number(Double(q.available) / 1000)
        return "quota: needs \(amount(q.needed, of: q.resource)), \(available) available to team \(team) (\(q.detail))"
    }

    /// An engine quantity (CPU millis, memory MiB, GPU thousandths of `gpu[i]`) as users write it.
    public func amount(_ value: Int64, of resource: String) -> String {
        let q = quantity(value, of: resource)
        switch q.resource {
        case "memory": return ByteQuantity(bytes: value << 20).readable
        case "cpu": return "\(Self.number(q.amount)) CPU\(q.amount == 1 ? "" : "s")"
        case _ where q.resource.hasSuffix(" GPUs"):
            return "\(Self.number(q.amount)) \(q.amount == 1 ? String(q.resource.dropLast()) : q.resource)"
        default: return "\(value) \(resource)"
        }
    }

    /// An engine quantity as a resource name and an amount in users' units (cores, bytes, GPUs).
    public func quantity(_ value: Int64, of resource: String) -> (resource: String, amount: Double) {
        switch resource {
        case "cpu": return ("cpu", Double(value) / 1000)
        case "memory": return ("memory", Double(value) * 1_048_576)
        default:
            guard resource.hasPrefix("gpu["), let i = Int(resource.dropFirst(4).dropLast()), cluster.modelNames.indices.contains(i) else {
                return (resource, Double(value))
            }
            return ("\(cluster.modelNames[i]) GPUs", Double(value) / 1000)
        }
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() ? String(Int64(v)) : String(format: "%.3g", v)
    }
}

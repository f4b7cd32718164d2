/// Explains, with numbers, why a gang has no placement: what one pod needs and the largest free blocks that exist,
/// e.g. "needs 2 pods with 8 free GPUs of model h100 each; largest free blocks: 1×8, 3×4".
public enum ShapeReport {
    public static func describe(_ w: PendingWorkload, in c: ClusterState) -> String {
        guard let pod = w.pods.max(by: { ($0.totalGPUMilli, $0.cpuMilli) < ($1.totalGPUMilli, $1.cpuMilli) }) else { return "the gang has no pods" }
        let n = w.pods.count
        let pods = n == 1 ? "1 pod" : "\(n) pods"
        let models = pod.models.isAny ? "GPUs" : "GPUs of model " + (1..<c.modelNames.count).filter { pod.models.allows(UInt8($0)) }.map { c.modelNames[$0] }.joined(separator: "|")
        let domain = (w.sameDomain ? " in one topology domain" : "") + (n > 1 && c.clusterCount > 1 ? " of one cluster" : "")
        func eligible(_ node: Int) -> Bool {
            if let pools = w.pools, !pools.contains(c.pool[node]) { return false }
            if pod.usesGPU && (c.model[node] == 0 || !pod.models.allows(c.model[node])) { return false }
            return true
        }
        func histogram(_ values: [Int], unit: (Int) -> String) -> String {
            var counts: [Int: Int] = [:]
            for v in values where v > 0 { counts[v, default: 0] += 1 }
            let top = counts.sorted { $0.key > $1.key }.prefix(3).map { "\($0.value)×\(unit($0.key))" }
            return top.isEmpty ? "none" : top.joined(separator: ", ")
        }
        let roomy = (0..<c.count).filter { eligible($0) && c.cpuFree[$0] >= pod.cpuMilli && c.memoryFree[$0] >= pod.memoryMiB }
        if pod.usesGPU && !pod.isShare {
            let blocks = histogram(roomy.map { node in (0..<Int(c.gpuCount[node])).filter { c.free(node, $0) == 1000 }.count }) { "\($0)" }
            return "needs \(pods) with \(pod.gpuCount) free \(models) each\(domain), plus \(cpu(pod.cpuMilli)) CPU and \(memory(pod.memoryMiB)) memory; largest free blocks: \(blocks)"
        }
        if pod.isShare {
            var shares: [Int] = []
            for node in roomy { for g in 0..<Int(c.gpuCount[node]) { shares.append(Int(c.free(node, g))) } }
            let best = histogram(shares) { String(format: "%.3g", Double($0) / 1000) }
            return "needs \(pods) with \(String(format: "%.3g", Double(pod.gpuMilli) / 1000)) of one free \(models.dropLast())\(domain); largest free shares: \(best)"
        }
        let cpus = histogram((0..<c.count).filter { eligible($0) && c.cpuFree[$0] >= 0 }.map { Int(c.cpuFree[$0]) }) { cpu(Int32($0)) }
        return "needs \(pods) with \(cpu(pod.cpuMilli)) CPU and \(memory(pod.memoryMiB)) memory free on one node\(domain); largest free CPU: \(cpus)"
    }

    /// MiB as users write it: `100Gi`, not `102400Mi`.
    /// `64Gi`, `23.5Gi`, `512Mi`: at most one decimal, for people.
    static func memory(_ mib: Int32) -> String {
        guard mib >= 1024 else { return "\(mib)Mi" }
        let tenths = (Double(mib) / 1024 * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10))Gi" : "\(Int(tenths / 10)).\(Int(tenths.truncatingRemainder(dividingBy: 10)))Gi"
    }

    static func cpu(_ milli: Int32) -> String { milli % 1000 == 0 ? "\(milli / 1000)" : "\(milli)m" }
}

/// dcgm-exporter's page (Prometheus text exposition): the `DCGM_FI_DEV_*` series of each GPU, read into samples. Only
/// the small text format is read (no maintained Swift parser exists on this machine's package list): `# ` lines are
/// skipped, each sample is `NAME{label="value",...} VALUE [TIMESTAMP]`, label values with `\"`, `\\` and `\n` escapes.
public enum DCGMExporter {
    public struct Series: Sendable, Hashable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    /// Every sample of the page (comments and malformed lines are skipped).
    public static func series(_ page: String) -> [Series] {
        page.split(whereSeparator: \.isNewline).compactMap { line -> Series? in
            let l = line.trimmingCharacters(in: .whitespaces)
            guard !l.isEmpty, !l.hasPrefix("#") else { return nil }
            var name = "", labels: [String: String] = [:]
            var i = l.startIndex
            while i < l.endIndex, l[i] != "{", l[i] != " " { name.append(l[i]); i = l.index(after: i) }
            guard !name.isEmpty else { return nil }
            if i < l.endIndex, l[i] == "{" {
                i = l.index(after: i)
                while i < l.endIndex, l[i] != "}" {
                    var key = ""
                    while i < l.endIndex, l[i] != "=" { if l[i] != "," && l[i] != " " { key.append(l[i]) }; i = l.index(after: i) }
                    guard i < l.endIndex else { return nil }
                    i = l.index(after: i)  // =
                    guard i < l.endIndex, l[i] == "\"" else { return nil }
                    i = l.index(after: i)
                    var value = ""
                    while i < l.endIndex, l[i] != "\"" {
                        if l[i] == "\\", l.index(after: i) < l.endIndex {
                            i = l.index(after: i)
                            value.append(l[i] == "n" ? "\n" : l[i])
                        } else {
                            value.append(l[i])
                        }
                        i = l.index(after: i)
                    }
                    guard i < l.endIndex else { return nil }
                    i = l.index(after: i)  // closing quote
                    labels[key] = value
                    while i < l.endIndex, l[i] == "," || l[i] == " " { i = l.index(after: i) }
                }
                guard i < l.endIndex else { return nil }
                i = l.index(after: i)  // }
            }
            let rest = l[i...].split(separator: " ")
            guard let v = rest.first.flatMap({ Double($0) }) else { return nil }
            return Series(name: name, labels: labels, value: v)
        }
    }

    /// One sample per GPU (by `Hostname` and `gpu` labels): utilization, framebuffer used and total, power, clock
    /// event reasons by name. GPUs without a utilization series are left out.
    public static func samples(_ page: String, node fallback: String) -> [GPUSample] {
        var byGPU: [String: GPUSample] = [:]
        var order: [String] = []
        var free: [String: Double] = [:]
        for s in series(page) {
            guard let g = s.labels["gpu"].flatMap(Int.init) else { continue }
            let node = s.labels["Hostname"] ?? s.labels["hostname"] ?? fallback
            let key = "\(node)/\(g)"
            if byGPU[key] == nil {
                byGPU[key] = GPUSample(node: node, gpu: g, uuid: s.labels["UUID"], utilization: -1, memoryUsedMiB: 0)
                order.append(key)
            }
            switch s.name {
            case "DCGM_FI_DEV_GPU_UTIL": byGPU[key]!.utilization = s.value
            case "DCGM_FI_DEV_FB_USED": byGPU[key]!.memoryUsedMiB = s.value
            case "DCGM_FI_DEV_FB_FREE": free[key] = s.value
            case "DCGM_FI_DEV_POWER_USAGE": byGPU[key]!.powerWatts = s.value
            case "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS":
                byGPU[key]!.throttling = ClockEventReasons.decode(UInt64(max(0, s.value)))
            default: break
            }
        }
        return order.compactMap { key in
            guard var s = byGPU[key], s.utilization >= 0 else { return nil }
            if let f = free[key] { s.memoryTotalMiB = s.memoryUsedMiB + f }
            return s
        }
    }
}

/// dcgm-exporter's page (Prometheus text exposition): the `DCGM_FI_DEV_*` series of each GPU, read into samples. Only
/// the small text format is read (no maintained Swift parser exists on this machine's package list): `# ` lines are
/// skipped, each sample is `NAME{label="value",...} VALUE [TIMESTAMP]`, label values with `\"`, `\\` and `\n` escapes.
public enum DCGMExporter {
    public struct Series: Sendable, Hashable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    /// Every sample of the page (comments and malformed lines are skipped). Read as bytes: a page of 1,000 GPUs is
    /// read every sample.
    public static func series(_ page: String) -> [Series] {
        var out: [Series] = []
        var page = page
        page.withUTF8 { bytes in
            var i = 0
            let n = bytes.count
            while i < n {
                var end = i
                while end < n, bytes[end] != 0x0A { end += 1 }
                if let s = line(bytes, i, end) { out.append(s) }
                i = end + 1
            }
        }
        return out
    }

    static func line(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Series? {
        var i = start
        while i < end, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D { i += 1 }
        guard i < end, b[i] != UInt8(ascii: "#") else { return nil }
        let nameStart = i
        while i < end, b[i] != UInt8(ascii: "{"), b[i] != 0x20 { i += 1 }
        guard i > nameStart else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<i]), as: UTF8.self)
        var labels: [String: String] = [:]
        if i < end, b[i] == UInt8(ascii: "{") {
            i += 1
            while i < end, b[i] != UInt8(ascii: "}") {
                while i < end, b[i] == UInt8(ascii: ",") || b[i] == 0x20 { i += 1 }
                if i < end, b[i] == UInt8(ascii: "}") { break }
                let keyStart = i
                while i < end, b[i] != UInt8(ascii: "=") { i += 1 }
                guard i + 1 < end, b[i + 1] == UInt8(ascii: "\"") else { return nil }
                let key = String(decoding: UnsafeBufferPointer(rebasing: b[keyStart..<i]), as: UTF8.self)
                i += 2
                var value: [UInt8] = []
                var escaped = false
                let valueStart = i
                while i < end, b[i] != UInt8(ascii: "\"") {
                    if b[i] == UInt8(ascii: "\\"), i + 1 < end {
                        if !escaped { value = Array(b[valueStart..<i]); escaped = true }
                        i += 1
                        value.append(b[i] == UInt8(ascii: "n") ? 0x0A : b[i])
                    } else if escaped {
                        value.append(b[i])
                    }
                    i += 1
                }
                guard i < end else { return nil }
                labels[key] = escaped ? String(decoding: value, as: UTF8.self) : String(decoding: UnsafeBufferPointer(rebasing: b[valueStart..<i]), as: UTF8.self)
                i += 1
            }
            guard i < end else { return nil }
            i += 1
        }
        while i < end, b[i] == 0x20 { i += 1 }
        let valueStart = i
        while i < end, b[i] != 0x20, b[i] != 0x0D { i += 1 }
        guard let v = Double(String(decoding: UnsafeBufferPointer(rebasing: b[valueStart..<i]), as: UTF8.self)) else { return nil }
        return Series(name: name, labels: labels, value: v)
    }

    /// One sample per GPU (by `Hostname` and `gpu` labels): utilization, framebuffer used and total, power, clock
    /// event reasons by name, the pods using it (`namespace`/`pod` labels). GPUs without a utilization series are left out.
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
            if let pod = s.labels["pod"], !pod.isEmpty {
                let name = (s.labels["namespace"].map { $0 + "/" } ?? "") + pod
                if !byGPU[key]!.pods.contains(name) { byGPU[key]!.pods.append(name) }
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

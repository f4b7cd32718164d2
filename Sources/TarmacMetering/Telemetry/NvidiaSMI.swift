/// `nvidia-smi --query-gpu=NvidiaSMI.fields --format=csv,noheader,nounits -lms N` lines, read into samples.
public enum NvidiaSMI {
    /// The fields asked for, in this order.
    public static let fields = ["index", "uuid", "utilization.gpu", "memory.used", "memory.total", "power.draw", "clocks_event_reasons.active"]

    /// The arguments of the one long-running reader (a line per GPU every `everyMs`).
    public static func arguments(everyMs: Int) -> [String] {
        ["--query-gpu=" + fields.joined(separator: ","), "--format=csv,noheader,nounits", "-lms", String(everyMs)]
    }

    /// One line (`0, GPU-5c1e..., 87, 30512, 81559, 412.33, 0x0000000000000020`); nil for what is not one (a header,
    /// an error message). `[N/A]` fields are left out.
    public static func parse(_ line: String, node: String) -> GPUSample? {
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard f.count == fields.count, let index = Int(f[0]), let util = Double(f[2]), let used = Double(f[3]) else { return nil }
        func number(_ s: String) -> Double? { s.hasPrefix("[") ? nil : Double(s) }
        return GPUSample(node: node, gpu: index, uuid: f[1].isEmpty ? nil : f[1], utilization: util, memoryUsedMiB: used, memoryTotalMiB: number(f[4]),
                         powerWatts: number(f[5]), throttling: ClockEventReasons.mask(f[6]).map(ClockEventReasons.decode) ?? [])
    }

    /// The processes using each GPU and their memory (`--query-compute-apps`), as a second long-running reader.
    public static let appFields = ["gpu_uuid", "pid", "used_memory"]

    public static func appArguments(everyMs: Int) -> [String] {
        ["--query-compute-apps=" + appFields.joined(separator: ","), "--format=csv,noheader,nounits", "-lms", String(everyMs)]
    }

    /// One process line (`GPU-5c1e..., 41234, 30200`); nil for anything else (`No running processes found`, `[N/A]`).
    public static func parseApp(_ line: String) -> (uuid: String, pid: Int32, memoryMiB: Double)? {
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard f.count == appFields.count, !f[0].isEmpty, let pid = Int32(f[1]), pid > 0, let mib = Double(f[2]) else { return nil }
        return (f[0], pid, mib)
    }
}

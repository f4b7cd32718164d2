import TarmacModel

/// Typed reads from an already-checked tree. A value that failed its check reads as nil: the
/// checker has reported it, and no document with errors is ever used, so nothing is silently defaulted.
extension YNode {
    func str(_ key: String) -> String? { self[key]?.text }
    func int(_ key: String) -> Int? { self[key]?.text.flatMap { Int($0) } }
    func double(_ key: String) -> Double? { self[key]?.text.flatMap { Double($0) } }
    func bool(_ key: String) -> Bool? {
        switch self[key]?.text {
        case "true": true
        case "false": false
        default: nil
        }
    }
    func cpu(_ key: String) -> CPUQuantity? { self[key]?.text.flatMap { try? CPUQuantity.parse($0).get() } }
    func bytes(_ key: String) -> ByteQuantity? { self[key]?.text.flatMap { try? ByteQuantity.parse($0).get() } }
    func gpus(_ key: String) -> GPUAmount? { self[key]?.text.flatMap { try? GPUAmount.parse($0).get() } }
    func duration(_ key: String) -> TimeSpan? { self[key]?.text.flatMap { try? TimeSpan.parse($0).get() } }
    func strings(_ key: String) -> [String] { self[key]?.items?.compactMap(\.text) ?? [] }
    func stringMap(_ key: String) -> [String: String] {
        var out: [String: String] = [:]
        for e in self[key]?.entries ?? [] { if let t = e.value.text { out[e.key] = t } }
        return out
    }
    /// Entries of a mapping of named objects, skipping malformed ones.
    func named(_ key: String) -> [(name: String, node: YNode)] {
        (self[key]?.entries ?? []).filter { $0.value.entries != nil }.map { ($0.key, $0.value) }
    }
}

import Foundation

/// The server's workload, as the CLI reads it.
struct WorkloadDTO: Decodable {
    struct PlacementDTO: Decodable {
        var node: String
        var gpus: [Int]
    }
    var id: String
    var name: String
    var team: String
    var env: String
    var kind: String
    var size: String
    var pods: Int
    var state: String
    var message: String?
    var cause: String?
    var attempt: Int
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var exitCode: Int?
    var gpuSeconds: Double
    var placements: [PlacementDTO]

    var isTerminal: Bool { ["succeeded", "failed", "cancelled", "rejected"].contains(state) }

    var stateText: String {
        switch state {
        case "succeeded": Terminal.paint(state, "32")
        case "failed", "rejected": Terminal.paint(state, "31")
        case "running": Terminal.paint(state, "36")
        case "queued", "admitted": Terminal.paint(state, "33")
        default: state
        }
    }
}

struct WorkloadListDTO: Decodable { var items: [WorkloadDTO] }

struct WhyDTO: Decodable {
    var workload: String
    var name: String
    var state: String
    var reason: String?
    var message: String
}

enum Age {
    static func text(since d: Date, now: Date = Date()) -> String {
        let s = Int(now.timeIntervalSince(d))
        if s < 120 { return "\(max(0, s))s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}

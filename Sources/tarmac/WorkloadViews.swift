import TarmacCore
import Foundation
import TarmacAPI

/// How the CLI shows the API's workload (`TarmacAPI.WorkloadView`).
extension WorkloadView {
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

enum Age {
    static func text(since d: Date, now: Date = SystemClock().now) -> String {
        let s = Int(now.timeIntervalSince(d))
        if s < 120 { return "\(max(0, s))s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}

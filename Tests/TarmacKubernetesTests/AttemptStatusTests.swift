import TarmacCore
import Foundation
import Testing
import TarmacKubernetesBackend
import TarmacRuntime

/// How an attempt's end is read from Job conditions and pod states, and what the triage makes of it.
@Suite struct AttemptStatusTests {
    let now = Date()

    func exits(_ file: String = "ranker-ft.yaml", attempt: Int = 1, job: [String: Any]?, pods: [[String: Any]], grace: TimeInterval = 60) throws -> [PodExit] {
        AttemptStatus.exits(.init(objects: try BackendSupport.objects(file), attempt: attempt, controller: job, pods: pods, now: now, unschedulableGrace: grace))
    }

    @Test func aCompleteJobEndsEveryPodWell() throws {
        let e = try exits(job: BackendSupport.job(attempt: 1, condition: "Complete"), pods: [])
        #expect(e.map(\.pod) == [0, 1])
        #expect(e.allSatisfy { $0.succeeded })
        // The Job's verdict counts only for its own attempt.
        #expect(try exits(attempt: 2, job: BackendSupport.job(attempt: 1, condition: "Complete"), pods: []).isEmpty)
    }

    @Test func aFailedGangIsExplainedByItsOOMKilledPod() throws {
        let pods = [
            BackendSupport.pod("ranker-ft-0-x", index: 0, phase: "Failed", state: ["terminated": ["exitCode": 143, "reason": "Error"]]),
            BackendSupport.pod("ranker-ft-1-y", index: 1, phase: "Failed", state: ["terminated": ["exitCode": 137, "reason": "OOMKilled"]]),
        ]
        let e = try exits(job: BackendSupport.job(attempt: 1, condition: "Failed", reason: "BackoffLimitExceeded"), pods: pods)
        #expect(e.count == 1)
        #expect(e[0].pod == 1 && e[0].reason == .outOfMemory)
        #expect(e[0].memoryLimitBytes == 900 << 30)
        let t = Triage.of(e[0])
        #expect(t.cause == "OutOfMemory" && !t.retryable)
        #expect(t.message.contains("900Gi"))
    }

    @Test func aFailedPodsExitCodeIsTheCause() throws {
        let pods = [BackendSupport.pod("ranker-ft-0-x", index: 0, phase: "Failed", state: ["terminated": ["exitCode": 127, "reason": "Error"]])]
        let e = try exits(job: BackendSupport.job(attempt: 1, condition: "Failed", reason: "BackoffLimitExceeded"), pods: pods)
        #expect(e.map(\.exitCode) == [127])
        #expect(Triage.of(e[0]).cause == "CommandNotFound")
    }

    @Test func theDeadlineEndsEveryPod() throws {
        let e = try exits(job: BackendSupport.job(attempt: 1, condition: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline"), pods: [])
        #expect(e.count == 2 && e.allSatisfy { $0.reason == .deadline })
        #expect(Triage.of(e[0]).cause == "DeadlineExceeded")
    }

    @Test func podsThatCannotStartAreNamedByTheirWaitingReason() throws {
        let pull = try exits(job: BackendSupport.job(attempt: 1), pods: [
            BackendSupport.pod("a", index: 1, phase: "Pending", state: ["waiting": ["reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.acme.example/train:1.4.2\""]]),
        ])
        #expect(pull.map(\.pod) == [1] && pull[0].reason == .imagePull)
        let t = Triage.of(pull[0])
        #expect(t.cause == "ImagePullFailed" && t.message.contains("registry.acme.example/train:1.4.2") && !t.retryable)
        // A first ErrImagePull may be a blip: only the back-off that follows counts.
        #expect(try exits(job: BackendSupport.job(attempt: 1), pods: [
            BackendSupport.pod("a", index: 0, phase: "Pending", state: ["waiting": ["reason": "ErrImagePull", "message": "timeout"]]),
        ]).isEmpty)
        let config = try exits(job: BackendSupport.job(attempt: 1), pods: [
            BackendSupport.pod("a", index: 0, phase: "Pending", state: ["waiting": ["reason": "CreateContainerConfigError", "message": "secret \"hf-token\" not found"]]),
        ])
        #expect(config.count == 1 && Triage.of(config[0]).cause == "CreateContainerConfigError")
        #expect(Triage.of(config[0]).message.contains("secret \"hf-token\" not found"))
    }

    @Test func unschedulableCountsOnlyAfterTheGrace() throws {
        let message = "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector."
        func pending(since: TimeInterval) -> [String: Any] {
            BackendSupport.pod("a", index: 0, phase: "Pending", conditions: [[
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastTransitionTime": BackendSupport.iso(now.addingTimeInterval(-since)),
            ]])
        }
        #expect(try exits(job: BackendSupport.job(attempt: 1), pods: [pending(since: 10)]).isEmpty)
        let e = try exits(job: BackendSupport.job(attempt: 1), pods: [pending(since: 120)])
        #expect(e.count == 1 && e[0].reason == .unschedulable)
        let t = Triage.of(e[0])
        #expect(t.cause == "Unschedulable" && t.retryable && t.message.contains("Insufficient nvidia.com/gpu"))
    }

    @Test func evictionIsRetryable() throws {
        let e = try exits(job: BackendSupport.job(attempt: 1), pods: [
            BackendSupport.pod("a", index: 0, phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory."),
        ])
        #expect(e.count == 1 && e[0].reason == .evicted)
        #expect(Triage.of(e[0]).retryable && Triage.of(e[0]).message.contains("low on resource"))
        let drained = try exits(job: BackendSupport.job(attempt: 1), pods: [
            BackendSupport.pod("b", index: 1, phase: "Failed", conditions: [["type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint"]]),
        ])
        #expect(drained.map(\.pod) == [1] && drained[0].reason == .evicted)
    }

    @Test func podsOfAnotherAttemptAreIgnored() throws {
        let old = BackendSupport.pod("a", attempt: 1, index: 0, phase: "Pending", state: ["waiting": ["reason": "ImagePullBackOff", "message": "x"]])
        #expect(try exits(attempt: 2, job: BackendSupport.job(attempt: 2), pods: [old]).isEmpty)
    }

    @Test func aCrashLoopingServiceReportsItsLastExit() throws {
        let pod = BackendSupport.pod("ranker-serve-abc", phase: "Running", state: ["waiting": ["reason": "CrashLoopBackOff", "message": "back-off 40s"]],
                                     lastState: ["terminated": ["exitCode": 137, "reason": "OOMKilled"]])
        let e = try exits("ranker-serve.yaml", job: nil, pods: [pod])
        #expect(e.count == 1 && e[0].reason == .outOfMemory && e[0].pod == 0)
    }

    /// The model's init container exits 3 when a file is not the registered bytes: ModelTampered at once, on its first
    /// run (not after the restarts' back-off); any other exit of it is an ordinary failure.
    @Test func aTamperedModelFileIsModelTamperedAtOnce() throws {
        var pod = BackendSupport.pod("ranker-serve-abc", phase: "Pending", state: ["waiting": ["reason": "PodInitializing"]])
        var status = pod["status"] as! [String: Any]
        status["initContainerStatuses"] = [["name": "tarmac-model", "state": ["terminated": ["exitCode": 3, "reason": "Error",
                                                                                               "message": "ModelTampered: weights.bin is not the registered bytes"]]]]
        pod["status"] = status
        let e = try exits("ranker-serve.yaml", job: nil, pods: [pod])
        #expect(e.count == 1 && e[0].reason == .modelTampered && e[0].exitCode == 3 && (e[0].detail ?? "").contains("weights.bin"), "\(e)")
        status["initContainerStatuses"] = [["name": "tarmac-model", "state": ["terminated": ["exitCode": 2, "reason": "Error"]]]]
        pod["status"] = status
        #expect(try exits("ranker-serve.yaml", job: nil, pods: [pod]).allSatisfy { $0.reason != .modelTampered })
    }
}

import PropertyBased
import Testing
import TarmacDelivery
import TarmacModel
import TarmacRuntime
import TarmacTesting

/// Which versions serve each service, by what share: the plan both the in-process gateway and the HTTPRoutes follow.
@Suite struct TrafficPlanTests {
    static func served(_ team: String, _ env: String, _ name: String, _ workload: String, _ version: String, endpoints: [String] = []) -> ServedService {
        ServedService(team: team, env: env, name: name, workload: workload, model: ModelReference(name: "m", version: version), endpoints: endpoints)
    }

    @Test func aServiceWithoutRolloutGoesAllToItsVersionAndARolloutSplitsIt() {
        let served = [
            Self.served("search", "prod", "ranker", "wl-1", "1.0.0", endpoints: ["http://127.0.0.1:9001"]),
            Self.served("search", "prod", "ranker-1-1-0", "wl-2", "1.1.0", endpoints: ["http://127.0.0.1:9002"]),
            Self.served("ads", "dev", "echo", "wl-3", "1", endpoints: ["http://127.0.0.1:9003"]),
        ]
        let rollout = ServiceTraffic(team: "search", env: "prod", service: "ranker", backends: [
            .init(workload: "wl-1", name: "ranker", model: "m", version: "1.0.0", weight: 70),
            .init(workload: "wl-2", name: "ranker-1-1-0", model: "m", version: "1.1.0", weight: 30),
        ])
        let plan = TrafficPlan.services(served, rollouts: [rollout])
        #expect(plan.map(\.key) == ["ads/echo", "search/ranker"], "the rollout's new version is reached through its service only")
        #expect(plan[0].backends == [.init(workload: "wl-3", name: "echo", model: "m", version: "1", weight: 100, endpoints: ["http://127.0.0.1:9003"])])
        #expect(plan[1].backends.map(\.weight) == [70, 30])
        #expect(plan[1].backends.map(\.endpoints) == [["http://127.0.0.1:9001"], ["http://127.0.0.1:9002"]], "each version with its replicas")
        // Before the new version runs it has no endpoints, and is still listed (at its share, 0 then).
        let starting = TrafficPlan.services([served[0]], rollouts: [rollout])
        #expect(starting.first?.backends.last?.endpoints == [])
    }

    /// For any services and rollouts: one entry per team and service, every share a percentage, and a service without
    /// a rollout at 100% on the oldest environment's version by name.
    @Test func eachServiceIsListedOnceWithSharesOfAHundred() async {
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            let names = ["a", "b", "c"], teams = ["t", "u"], envs = ["dev", "prod"]
            var served: [ServedService] = []
            for i in 0..<(1 + rng.int(8)) {
                served.append(Self.served(rng.pick(teams), rng.pick(envs), rng.pick(names), "wl-\(i)", "\(i).0.0"))
            }
            var rollouts: [ServiceTraffic] = []
            if rng.int(2) == 0, let s = served.first {
                let w = rng.int(101)
                rollouts.append(ServiceTraffic(team: s.team, env: s.env, service: s.name, backends: [
                    .init(workload: s.workload, name: s.name, model: "m", version: s.model.version, weight: 100 - w),
                    .init(workload: "wl-next", name: s.name + "-next", model: "m", version: "9.0.0", weight: w),
                ]))
            }
            let plan = TrafficPlan.services(served, rollouts: rollouts)
            #expect(Set(plan.map(\.key)).count == plan.count)
            #expect(Set(plan.map(\.key)) == Set(served.map { "\($0.team)/\($0.name)" }))
            for t in plan {
                #expect(t.backends.map(\.weight).reduce(0, +) == 100)
                if !rollouts.contains(where: { $0.key == t.key }) {
                    let first = served.filter { "\($0.team)/\($0.name)" == t.key }.min { ($0.env, $0.workload) < ($1.env, $1.workload) }
                    #expect(t.backends.map(\.workload) == [first?.workload ?? ""])
                }
            }
        }
    }
}

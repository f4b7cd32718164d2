import Foundation
import PropertyBased
import Testing
import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacTesting
import Yams

@Suite struct InvariantTests {
    /// Every pod template meets Pod Security `restricted` and mounts no API token.
    @Test func podTemplatesAreRestricted() throws {
        let specs = RenderSupport.podSpecs(RenderSupport.render())
        #expect(specs.count == RenderSupport.workloads.count)
        for (o, spec) in specs {
            #expect(spec["automountServiceAccountToken"] == false, "\(o.relativePath)")
            #expect(spec["securityContext"]?["runAsNonRoot"] == true)
            #expect(spec["securityContext"]?["seccompProfile"]?["type"] == "RuntimeDefault")
            #expect(spec["serviceAccountName"] == .string(o.name), "one ServiceAccount per workload")
            #expect(spec["hostNetwork"] == nil && spec["hostPID"] == nil)
            for c in spec["containers"]?.list ?? [] {
                #expect(c["securityContext"]?["allowPrivilegeEscalation"] == false)
                #expect(c["securityContext"]?["capabilities"]?["drop"] == ["ALL"])
                #expect(c["securityContext"]?["privileged"] == nil)
                #expect(c["resources"]?["requests"] == c["resources"]?["limits"], "requests equal limits in \(o.relativePath)")
            }
            for v in spec["volumes"]?.list ?? [] { #expect(v["hostPath"] == nil) }
        }
        for ns in RenderSupport.render().filter({ $0.kind == "Namespace" }) {
            #expect(ns.labels["pod-security.kubernetes.io/enforce"] == "restricted")
        }
    }

    @Test func trainingJobIsASuspendedGangWithRendezvous() throws {
        let objects = RenderSupport.render()
        let job = try #require(objects.first { $0.kind == "Job" && $0.name == "ranker-ft" })
        let spec = try #require(job.body["spec"])
        #expect(spec["suspend"] == true)
        #expect(spec["completionMode"] == "Indexed")
        #expect(spec["completions"] == 2 && spec["parallelism"] == 2)
        let pod = try #require(spec["template"]?["spec"])
        #expect(pod["subdomain"] == "ranker-ft")
        let env = pod["containers"]?.list?.first?["env"]?.list ?? []
        let names = env.compactMap { $0["name"]?.string }
        #expect(["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"].allSatisfy(names.contains))
        #expect(env.first { $0["name"] == "MASTER_ADDR" }?["value"] == "ranker-ft-0.ranker-ft")
        let resources = pod["containers"]?.list?.first?["resources"]
        #expect(resources?["limits"]?["nvidia.com/gpu"] == "8")
        #expect(resources?["limits"]?["memory"] == "900Gi")
        #expect(pod["volumes"]?.list?.contains { $0["emptyDir"]?["sizeLimit"] == "64Gi" && $0["emptyDir"]?["medium"] == "Memory" } == true)
        #expect(pod["nodeSelector"]?["tarmac.dev/pool"] == "train-h100")
        #expect(pod["tolerations"]?.list?.first?["key"] == "nvidia.com/gpu")
        let svc = try #require(objects.first { $0.kind == "Service" && $0.name == "ranker-ft" })
        #expect(svc.body["spec"]?["clusterIP"] == "None")
        #expect(objects.contains { $0.kind == "PersistentVolumeClaim" && $0.name == "ranker-ft-checkpoint" })
    }

    @Test func fractionalGPUsRequestSharedSlices() throws {
        let d = try #require(RenderSupport.render().first { $0.kind == "Deployment" && $0.name == "ranker" })
        let limits = d.body["spec"]?["template"]?["spec"]?["containers"]?.list?.first?["resources"]?["limits"]
        #expect(limits?["nvidia.com/gpu.shared"] == "2")  // 0.5 GPU of an L4 shared 4 ways
        #expect(limits?["nvidia.com/gpu"] == nil)
        #expect(limits?["memory"] == "20Gi")  // the prod overlay's value
        let hpa = try #require(RenderSupport.render().first { $0.kind == "HorizontalPodAutoscaler" && $0.name == "ranker" })
        #expect(hpa.body["spec"]?["minReplicas"] == 2 && hpa.body["spec"]?["maxReplicas"] == 6)
    }

    @Test func agentReachesOnlyItsTools() throws {
        let objects = RenderSupport.render()
        let np = try #require(objects.first { $0.kind == "NetworkPolicy" && $0.name == "support-agent-tools" })
        let cidrs = (np.body["spec"]?["egress"]?.list ?? []).compactMap { $0["to"]?.list?.first?["ipBlock"]?["cidr"]?.string }
        #expect(cidrs.sorted() == ["10.50.1.0/24", "10.50.2.0/24"])  // search-index and tickets, not warehouse
        let sameNs = try #require(objects.first { $0.kind == "NetworkPolicy" && $0.name == "allow-same-namespace" && $0.namespace == "assistants-dev" })
        #expect(sameNs.body["spec"]?["podSelector"]?["matchExpressions"]?.list?.first?["values"] == ["agent"])
        let sa = try #require(objects.first { $0.kind == "ServiceAccount" && $0.name == "support-agent" })
        #expect(sa.body["automountServiceAccountToken"] == false)
    }

    @Test func quotasAreCeilingsOfNominalPlusBorrowing() throws {
        let q = try #require(RenderSupport.render().first { $0.kind == "ResourceQuota" && $0.namespace == "search-dev" })
        let hard = q.body["spec"]?["hard"]
        // search: h100 16 + borrowing 8, l4 8 + what the cohort lends (ads: 4) -> 24 + 12 whole GPUs
        #expect(hard?["requests.nvidia.com/gpu"] == "36")
        #expect(hard?["requests.nvidia.com/gpu.shared"] == "48")  // 12 L4 x 4 slices
        #expect(hard?["requests.cpu"] == "384")  // 256 + ads' 128
    }

    @Test func registryPoliciesFollowEachEnvironment() throws {
        let objects = RenderSupport.render()
        let prod = try #require(objects.first { $0.kind == "ValidatingAdmissionPolicy" && $0.name == "tarmac-registries-prod" })
        let expr = prod.body["spec"]?["validations"]?.list?.first?["expression"]?.string ?? ""
        #expect(expr.contains("['registry.acme.example']"))
        let binding = try #require(objects.first { $0.kind == "ValidatingAdmissionPolicyBinding" && $0.name == "tarmac-registries-prod" })
        #expect(binding.body["spec"]?["matchResources"]?["namespaceSelector"]?["matchLabels"]?["tarmac.dev/env"] == "prod")
        #expect(binding.body["spec"]?["validationActions"] == ["Deny"])
        let pcs = objects.filter { $0.kind == "PriorityClass" }
        #expect(pcs.count == 4 && pcs.allSatisfy { $0.body["preemptionPolicy"] == "Never" })
    }

    /// Kueue sets preemption per ClusterQueue: it is off there only when the contract makes every priority non-preempting.
    @Test(arguments: [("[low]", "LowerPriority/Any"), ("[low, high]", "Never/Never"), ("[]", "LowerPriority/Any")])
    func kueueQueuesPreemptUnlessNoPriorityMay(nonPreempting: String, expected: String) throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-kueue-preemption")
        let file = try dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: p}
            spec:
              pools:
                cpu: {cpuPerNode: 8, memoryPerNode: 32Gi, nodes: 2, classes: [batch]}
              sizes:
                batch:
                  s: {cpu: 1, memory: 1Gi}
              priorities: {low: 1, high: 10}
              preemption: {nonPreempting: \(nonPreempting)}
              teams:
                a: {quota: {cpu: 8, memory: 16Gi}}
                b: {quota: {cpu: 8, memory: 16Gi}}

            """)
        let contract = try #require(ContractLoader.load(file).contract)
        let queues = KueueRenderer.render(contract).filter { $0.kind == "ClusterQueue" }
        #expect(queues.count == 2)
        for q in queues {
            let p = q.body["spec"]?["preemption"]
            #expect("\(p?["withinClusterQueue"]?.string ?? "-")/\(p?["reclaimWithinCohort"]?.string ?? "-")" == expected)
        }
    }

    /// Kueue's own validation rules (from its CRDs) that our objects must meet: in a ClusterQueue, each flavor appears
    /// in one resource group only, covers exactly the group's resources, and lends at most its nominal quota.
    @Test func kueueObjectsAreConsistent() throws {
        let objects = RenderSupport.render(kueue: true)
        let flavors = Set(objects.filter { $0.kind == "ResourceFlavor" }.map(\.name))
        let queues = objects.filter { $0.kind == "ClusterQueue" }
        #expect(queues.count == 4)
        for q in queues {
            var seenFlavors = Set<String>(), seenResources = Set<String>()
            for group in q.body["spec"]?["resourceGroups"]?.list ?? [] {
                let covered = (group["coveredResources"]?.list ?? []).compactMap(\.string)
                for r in covered { #expect(seenResources.insert(r).inserted, "\(r) in two groups of \(q.name)") }
                for f in group["flavors"]?.list ?? [] {
                    let name = f["name"]?.string ?? ""
                    #expect(flavors.contains(name), "ClusterQueue \(q.name) names missing flavor \(name)")
                    #expect(seenFlavors.insert(name).inserted)
                    let resources = (f["resources"]?.list ?? [])
                    #expect(resources.compactMap { $0["name"]?.string } == covered)
                    for r in resources {
                        if let lend = r["lendingLimit"]?.string, let nominal = r["nominalQuota"]?.string {
                            #expect((Int(lend) ?? 0) <= (Int(nominal) ?? 0))
                        }
                    }
                }
            }
        }
        #expect(queues.allSatisfy { $0.body["spec"]?["preemption"]?["withinClusterQueue"] == "LowerPriority" })
        let localQueues = objects.filter { $0.kind == "LocalQueue" }
        #expect(localQueues.count == 8)  // 4 teams x 2 environments
        let job = try #require(objects.first { $0.kind == "Job" && $0.name == "ranker-ft" })
        #expect(job.labels["kueue.x-k8s.io/queue-name"] == "tarmac")
    }
}

/// The YAML writer's output reads back, through a real YAML parser, as exactly the value written.
@Suite struct YAMLWriterTests {
    static let awkward = ["", " ", "true", "no", "on", "null", "~", "8", "0x1F", "1e3", "1_000", "12:30", "-", "- x", "a: b", "a #b", "#x",
                          "'q'", "\"q\"", "line\nbreak", "tab\there", "é", "日本", "@at", "`tick`", "%pct", "*star", "&amp", "!bang", "a:",
                          ".5", ".inf", "+1", "1.0", "\u{1}", "{x}", "[x]", "x,y", "? q", "|", ">"]

    func roundTrip(_ s: String) throws -> String? {
        let doc = YAMLWriter.document(["k": .string(s), "l": [.string(s)]])
        let parsed = try Yams.load(yaml: doc) as? [String: Any]
        let k = parsed?["k"] as? String
        let l = (parsed?["l"] as? [Any])?.first as? String
        return k == l ? k : nil
    }

    @Test(arguments: awkward)
    func awkwardStringsRoundTrip(_ s: String) throws {
        #expect(try roundTrip(s) == s)
    }

    @Test func randomStringsRoundTrip() async {
        let alphabet = Array("ab:-# '\"\n\t{}[],&*!|>%@`?0123456789.eE+_~ntrueflsoyNé")
        await propertyCheck(count: 500, input: Gen.int(in: 0...40), Gen.uint64(in: 0...UInt64.max)) { length, seed in
            var state = seed
            var s = ""
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                s.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            #expect((try? roundTrip(s)) == s, "\(s.debugDescription)")
        }
    }

    @Test func nestedStructure() throws {
        let v: KValue = ["b": [["x": 1, "y": [true, "z"]], [:], []], "a": ["c": .double(2.5), "d": [:]]]
        let doc = YAMLWriter.document(v)
        #expect(doc == "a:\n  c: 2.5\n  d: {}\nb:\n- x: 1\n  \"y\":\n  - true\n  - z\n- {}\n- []\n")
        let parsed = try Yams.load(yaml: doc) as? [String: Any]
        #expect((parsed?["b"] as? [Any])?.count == 3)
    }
}

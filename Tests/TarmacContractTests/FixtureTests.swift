import Foundation
import TarmacKinds
import Testing
import TarmacContract
import TarmacModel
import TarmacTesting

/// Every broken document in Tests/Fixtures/invalid produces exactly the diagnostics in its .expect file:
/// file, line, column, severity, message and rule.
@Suite struct FixtureTests {
    static let workloadFixtures = Fixtures.files(in: Fixtures.invalidDir + "/workloads").map { ($0 as NSString).lastPathComponent }
    static let platformCases = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.invalidDir + "/platforms").sorted()) ?? []

    @Test func corpusIsPresent() {
        #expect(Self.workloadFixtures.count >= 14)
        #expect(Self.platformCases.count >= 6)
    }

    @Test(arguments: workloadFixtures)
    func workloadFixture(_ name: String) throws {
        let dir = Fixtures.invalidDir + "/workloads"
        let file = dir + "/" + name
        let read = DocumentReader.read(file: file)
        var diagnostics = read.diagnostics
        for w in read.workloads { diagnostics += Kinds.validate(w, against: Support.contract) }
        let expected = Fixtures.expectations(at: file + ".expect")
        #expect(!expected.isEmpty, "fixture \(name) has no expectations")
        #expect(Support.headlines(diagnostics.normalized(), relativeTo: dir) == expected)
        #expect(diagnostics.hasErrors, "every fixture is broken")
    }

    @Test(arguments: platformCases)
    func platformFixture(_ name: String) throws {
        let dir = Fixtures.invalidDir + "/platforms/" + name
        let result = ContractLoader.load(dir + "/platform.yaml")
        let expected = Fixtures.expectations(at: dir + "/expect.txt")
        #expect(!expected.isEmpty)
        #expect(Support.headlines(result.diagnostics, relativeTo: dir) == expected)
        if result.diagnostics.hasErrors { #expect(result.contract == nil, "a contract with errors is never returned") }
    }
}

@Suite struct ExampleTests {
    @Test func examplePlatformIsClean() {
        let r = ContractLoader.load(Fixtures.examplePlatform)
        #expect(r.contract != nil)
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics)")
        #expect(r.contract?.files.count == 4)  // platform, base, dev and prod overlays
    }

    @Test func exampleContractIsRealistic() throws {
        let p = Support.contract.platform
        #expect(p.accelerators.count >= 3)
        #expect(p.pools.count >= 4)
        #expect(p.teams.count >= 3)
        #expect(Set(p.teams.values.compactMap(\.cohort)).count >= 2)
        #expect(!p.tools.isEmpty)
        for c in WorkloadClass.allCases {
            #expect(!(p.sizes[c] ?? [:]).isEmpty, "no \(c) sizes")
            #expect(p.sizes[c]?.values.contains { !$0.usesGPU } == true, "no CPU-only \(c) size for the embedded mode")
        }
    }

    @Test func everyExampleWorkloadIsValid() throws {
        var kinds = Set<DocumentKind>()
        for file in Fixtures.files(in: Fixtures.exampleWorkloads) {
            let read = DocumentReader.read(file: file)
            #expect(read.diagnostics.isEmpty, "\(file): \(read.diagnostics)")
            for w in read.workloads {
                kinds.insert(w.kind)
                let ds = Kinds.validate(w, against: Support.contract)
                #expect(ds.isEmpty, "\(file): \(ds)")
            }
        }
        #expect(kinds == Set(DocumentKind.workloadKinds))
    }
}

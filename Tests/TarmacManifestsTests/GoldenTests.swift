import Foundation
import Testing
import TarmacManifests
import TarmacTesting

/// The rendered examples, byte for byte. After an intended change: TARMAC_UPDATE_GOLDEN=1 swift test --filter GoldenTests
@Suite struct GoldenTests {
    @Test(arguments: [false, true])
    func renderedExamplesMatchGolden(kueue: Bool) throws {
        let path = Fixtures.goldenDir + (kueue ? "/examples-kueue.yaml" : "/examples.yaml")
        let rendered = RenderSupport.stream(RenderSupport.render(kueue: kueue))
        if ProcessInfo.processInfo.environment["TARMAC_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(atPath: Fixtures.goldenDir, withIntermediateDirectories: true)
            try rendered.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8)
        #expect(rendered == golden, "rendering changed; if intended, run TARMAC_UPDATE_GOLDEN=1 swift test --filter GoldenTests")
    }

    @Test func sameInputSameBytesInAnyOrder() {
        let a = RenderSupport.stream(RenderSupport.render())
        let b = RenderSupport.stream(RenderSupport.render(workloads: RenderSupport.workloads.reversed()))
        #expect(a == b)
        let paths = RenderSupport.render().map(\.relativePath)
        #expect(paths == paths.sorted())
        #expect(Set(paths).count == paths.count, "one file per object")
    }
}

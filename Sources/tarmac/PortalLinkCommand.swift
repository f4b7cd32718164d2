import ArgumentParser
import Foundation
import TarmacAPI

/// `tarmac portal-link`: a one-time link that signs a browser into the portal as you.
struct PortalLinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal-link",
        abstract: "Print a one-time link that signs a browser into the portal as you.",
        discussion: """
        The link works once, within 10 minutes, and opens a portal session for the token this CLI uses (its team and role). The session ends at sign-out, after 8 hours unused, or when that token is revoked. Open it on the machine you are at; anyone who opens it first is signed in as you.

        Examples:
          tarmac portal-link
          tarmac portal-link --context prod -o json
        """)

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient {
            let body = try await client.client().call(.POST, "/v1/portal/links").body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let link = try ServerClient.decode(PortalLinkView.self, body)
            print(link.url)
            Terminal.writeError("one-time sign-in link, valid until \(ISO8601DateFormatter().string(from: link.expiresAt))")
        }
    }
}

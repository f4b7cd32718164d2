import TarmacModel
import Testing
@testable import TarmacIdentity

/// What a call needs: routes by path prefix and method, and one rule for MCP's tools/list and tools/call.
@Suite struct ToolAccessTests {
    let tool = IdentityFixtures.tool

    @Test func routesMatchOnSegmentBoundariesAndMethods() {
        #expect(ToolAccess.scope(of: tool, path: "/tickets", method: "GET") == "read")
        #expect(ToolAccess.scope(of: tool, path: "/tickets/T-1?x=1", method: "get") == "read")
        #expect(ToolAccess.scope(of: tool, path: "/tickets/T-1", method: "POST") == "comment")
        #expect(ToolAccess.scope(of: tool, path: "/ticketsX", method: "GET") == nil)
        #expect(ToolAccess.scope(of: tool, path: "/admin", method: "GET") == nil)
        #expect(ToolAccess.scope(of: tool, path: "/mcp", method: "POST") == "")
    }

    @Test func theSameRuleListsAndCalls() {
        let holdsRead: (String) -> Bool = { $0 == "read" }
        #expect(ToolAccess.mcp(tool, name: "get_ticket", arguments: nil, holds: holdsRead) == .allowed(scope: "read"))
        #expect(ToolAccess.mcp(tool, name: "get_ticket", arguments: ["id": .text("T-1")], holds: holdsRead) == .allowed(scope: "read"))
        for args in [nil, ["queue": ToolAccess.ArgumentValue.text("support")]] as [[String: ToolAccess.ArgumentValue]?] {
            guard case .refused = ToolAccess.mcp(tool, name: "close_ticket", arguments: args, holds: holdsRead) else { Issue.record("close allowed with read"); return }
        }
        guard case .refused = ToolAccess.mcp(tool, name: "delete_everything", arguments: nil, holds: { _ in true }) else { Issue.record("unlisted tool allowed"); return }
    }

    @Test func constrainedArgumentsMustHaveAnAllowedValue() {
        let all: (String) -> Bool = { _ in true }
        #expect(ToolAccess.mcp(tool, name: "close_ticket", arguments: nil, holds: all) == .allowed(scope: "close"), "listing ignores arguments")
        #expect(ToolAccess.mcp(tool, name: "close_ticket", arguments: ["queue": .text("support")], holds: all) == .allowed(scope: "close"))
        for bad: [String: ToolAccess.ArgumentValue] in [[:], ["queue": .text("billing")], ["queue": .other]] {
            guard case .refused = ToolAccess.mcp(tool, name: "close_ticket", arguments: bad, holds: all) else { Issue.record("\(bad) allowed"); return }
        }
    }
}

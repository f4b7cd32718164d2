import Foundation
import PropertyBased
import TarmacModel
import Testing
@testable import TarmacIdentity

/// Who gets a token for which scopes, and for how long: every rule of the exchange as a case.
@Suite struct TokenExchangeTests {
    typealias F = IdentityFixtures

    func decide(_ subject: TokenExchange.Subject, scopes: [String]?, grants: [Grant] = F.grants(), details: AgentDetails = F.details,
                tool: String = "tickets", max: TimeInterval = 900) -> Result<TokenExchange.Decision, OAuthError> {
        TokenExchange.decide(subject: subject, agent: F.agent(details), toolName: tool, tool: tool == "tickets" ? F.tool : nil, requested: scopes,
                             grants: grants, maxLifetime: max, now: F.now)
    }

    func code(_ r: Result<TokenExchange.Decision, OAuthError>) -> OAuthError.Code? {
        if case .failure(let e) = r { return e.code }
        return nil
    }

    @Test func aPersonGetsTheAgentsActiveGrantsWithTheAgentInAct() throws {
        let d = try decide(F.person(), scopes: nil).get()
        #expect(d.subject == "dan@acme.example")
        #expect(d.act?.sub == F.agent().spiffeID)
        #expect(d.scopes == ["read"])  // comment waits for team:platform, close for an admin
        #expect(d.expiresAt == F.now.addingTimeInterval(900))
    }

    @Test func grantsTheContractHoldsBackAreRefusedUntilApproved() throws {
        let r = decide(F.person(), scopes: ["read", "close"])
        #expect(code(r) == .invalidScope)
        if case .failure(let e) = r { #expect(e.description.contains("pending approval by role:admin")) }
        var grants = F.grants()
        let i = grants.firstIndex { $0.scope == "close" }!
        grants[i] = try GrantRules.approve(grants[i], by: Decider(name: "ops", isAdmin: true, team: nil), lifetime: 120, now: F.now).get()
        let d = try decide(F.person(), scopes: ["read", "close"], grants: grants).get()
        #expect(d.scopes == ["read", "close"])
        #expect(d.expiresAt == F.now.addingTimeInterval(120), "a token lives no longer than the shortest grant behind it")
    }

    @Test func aMemberOfAnotherTeamCannotActThroughTheAgent() {
        #expect(code(decide(F.person("frank@acme.example", team: "search"), scopes: ["read"])) == .invalidGrant)
    }

    @Test func onlyThePersonTheAgentActsForMayBeTheSubject() {
        #expect(code(decide(F.person("erin@acme.example"), scopes: ["read"])) == .invalidGrant)
        let mine = AgentDetails(tools: ["tickets": ["read"]], onBehalfOf: nil)
        #expect(code(decide(F.person(), scopes: ["read"], grants: F.grants(mine), details: mine)) == .invalidGrant)
    }

    @Test func inItsOwnNameAnAgentNeverHoldsASensitiveScope() throws {
        #expect(try decide(.itself, scopes: ["read"]).get().subject == F.agent().spiffeID)
        #expect(try decide(.itself, scopes: ["read"]).get().act == nil)
        var grants = F.grants()
        let i = grants.firstIndex { $0.scope == "close" }!
        grants[i].state = .approved
        #expect(code(decide(.itself, scopes: ["close"], grants: grants)) == .invalidScope)
    }

    @Test func unknownToolsAndScopesAreNamed() {
        #expect(code(decide(F.person(), scopes: ["read"], tool: "wiki")) == .invalidTarget)
        let r = decide(F.person(), scopes: ["raed"])
        #expect(code(r) == .invalidScope)
        if case .failure(let e) = r { #expect(e.description.contains("did you mean 'read'")) }
    }

    @Test func revokedAndExpiredGrantsGiveNoToken() throws {
        var grants = F.grants()
        let i = grants.firstIndex { $0.scope == "read" }!
        grants[i] = try GrantRules.revoke(grants[i], by: Decider(name: "dan@acme.example", isAdmin: false, team: "assistants"), reason: nil, now: F.now).get()
        #expect(code(decide(F.person(), scopes: ["read"], grants: grants)) == .invalidScope)
        grants[i].state = .approved
        grants[i].expiresAt = F.now
        #expect(code(decide(F.person(), scopes: ["read"], grants: grants)) == .invalidScope)
    }

    @Test func aDelegatedTokenNestsTheChainAndNeverWidens() throws {
        let earlier = AccessTokenClaims(iss: "i", sub: "dan@acme.example", aud: ["tickets"], exp: Int64(F.now.timeIntervalSince1970) + 60, iat: 0, jti: "j",
                                        scope: ["read"], act: ActorClaim(sub: "spiffe://acme/first"), clientID: "spiffe://acme/first",
                                        tarmac: WorkloadClaim(wid: "wl-0", att: 1, team: "assistants"))
        let d = try decide(.delegated(earlier), scopes: ["read"]).get()
        #expect(d.subject == "dan@acme.example")
        #expect(d.act?.chain == [F.agent().spiffeID, "spiffe://acme/first"])
        #expect(d.expiresAt == F.now.addingTimeInterval(60))
        var grants = F.grants()
        for i in grants.indices { grants[i].state = .approved }
        #expect(code(decide(.delegated(earlier), scopes: ["read", "comment"], grants: grants)) == .invalidScope)
        var deep: ActorClaim? = nil
        for i in 0..<TokenExchange.maxChain { deep = ActorClaim(sub: "a\(i)", act: deep) }
        var long = earlier
        long.act = deep
        #expect(code(decide(.delegated(long), scopes: ["read"])) == .invalidGrant)
    }

    /// A token for an InferenceService (`inference:TEAM/SERVICE`): the agent's own team's services only, no scopes, in
    /// its own name or for its person, and after another agent only for the same service.
    @Test func aTokenForAServiceIsForTheAgentsOwnTeamAndCarriesNoScopes() throws {
        func service(_ subject: TokenExchange.Subject, _ audience: String, scopes: [String]? = nil) -> Result<TokenExchange.Decision, OAuthError> {
            TokenExchange.decideService(subject: subject, agent: F.agent(), audience: audience, requested: scopes, maxLifetime: 300, now: F.now)
        }
        let own = try service(.itself, "inference:assistants/ranker").get()
        #expect(own.subject == F.agent().spiffeID && own.act == nil && own.scopes.isEmpty && own.expiresAt == F.now.addingTimeInterval(300))
        let forDan = try service(F.person(), "inference:assistants/ranker").get()
        #expect(forDan.subject == "dan@acme.example" && forDan.act?.sub == F.agent().spiffeID)
        #expect(code(service(.itself, "inference:search/ranker")) == .invalidTarget, "another team's service")
        #expect(code(service(.itself, "inference:assistants")) == .invalidTarget, "not TEAM/SERVICE")
        #expect(code(service(.itself, "inference:assistants/ranker", scopes: ["read"])) == .invalidScope)
        #expect(code(service(F.person("erin@acme.example"), "inference:assistants/ranker")) == .invalidGrant, "not the person it acts for")
        let earlier = AccessTokenClaims(iss: "i", sub: "dan@acme.example", aud: ["inference:assistants/ranker"], exp: Int64(F.now.timeIntervalSince1970) + 60,
                                        iat: 0, jti: "j", scope: [], act: ActorClaim(sub: "spiffe://acme/first"), clientID: "spiffe://acme/first",
                                        tarmac: WorkloadClaim(wid: "wl-0", att: 1, team: "assistants"))
        let after = try service(.delegated(earlier), "inference:assistants/ranker").get()
        #expect(after.subject == "dan@acme.example" && after.act?.chain == [F.agent().spiffeID, "spiffe://acme/first"] && after.expiresAt == F.now.addingTimeInterval(60))
        #expect(code(service(.delegated(earlier), "inference:assistants/other")) == .invalidTarget, "a token for one service does not become one for another")
        #expect(TokenExchange.service(of: "tickets") == nil && TokenExchange.service(of: "inference:a/b")! == ("a", "b"))
    }

    /// Whatever is asked and whatever state the grants are in, a token never carries a scope that is not asked for by
    /// the agent, granted and in force, and (unless nil) requested; nor outlives the maximum or a grant behind it.
    @Test func anIssuedTokenIsWithinItsGrantsAndItsLimits() async {
        let scopes = ["read", "comment", "close", "write"]
        await propertyCheck(count: 400, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var s = seed
            func next(_ n: Int) -> Int {
                s = s &* 6364136223846793005 &+ 1442695040888963407
                return Int((s >> 33) % UInt64(n))
            }
            var grants = F.grants()
            for i in grants.indices {
                grants[i].state = Grant.State.allCases[next(Grant.State.allCases.count)]
                grants[i].expiresAt = next(3) == 0 ? F.now.addingTimeInterval(Double(next(2000)) - 500) : nil
            }
            let requested: [String]? = next(4) == 0 ? nil : scopes.filter { _ in next(2) == 0 }
            let subject: TokenExchange.Subject = next(2) == 0 ? .itself : F.person()
            let max = Double(1 + next(1800))
            guard case .success(let d) = decide(subject, scopes: requested, grants: grants, max: max) else { return }
            for sc in d.scopes {
                let g = grants.first { $0.scope == sc }
                #expect(g?.active(at: F.now) == true, "scope \(sc) issued without an active grant")
                #expect(F.details.tools["tickets"]!.contains(sc))
                if let requested { #expect(requested.contains(sc)) }
                if let e = g?.expiresAt { #expect(d.expiresAt <= e) }
                if case .itself = subject { #expect(!F.tool.sensitiveScopes.contains(sc)) }
            }
            #expect(!d.scopes.isEmpty)
            #expect(d.expiresAt <= F.now.addingTimeInterval(max))
        }
    }
}

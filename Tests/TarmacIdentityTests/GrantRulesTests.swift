import Foundation
import TarmacModel
import Testing
@testable import TarmacIdentity

/// Who may decide on a grant, and what a decision does.
@Suite struct GrantRulesTests {
    typealias F = IdentityFixtures
    let admin = Decider(name: "ops@acme.example", isAdmin: true, team: nil)
    let dan = Decider(name: "dan@acme.example", isAdmin: false, team: "assistants")
    let platformMember = Decider(name: "pat@acme.example", isAdmin: false, team: "platform")

    func grant(_ scope: String) -> Grant { F.grants().first { $0.scope == scope }! }

    @Test func theContractSaysWhatIsGrantedAtSubmit() {
        let g = F.grants()
        #expect(g.map(\.scope) == ["close", "comment", "read"])
        #expect(g.first { $0.scope == "read" }?.state == .approved)
        #expect(g.first { $0.scope == "read" }?.decidedBy == "contract")
        #expect(g.first { $0.scope == "close" }?.approvers == "role:admin", "a sensitive scope needs an admin by default")
        #expect(g.first { $0.scope == "comment" }?.approvers == "team:platform")
        #expect(Set(g.map(\.id)).count == 3)
        #expect(F.grants().map(\.id) == g.map(\.id), "ids are stable, so a replayed submit creates nothing new")
    }

    @Test func theRequesterAndThePersonActedForNeverApprove() {
        guard case .failure(let e) = GrantRules.approve(grant("close"), by: dan, lifetime: nil, now: F.now) else { Issue.record("approved"); return }
        #expect(e.code == .forbidden)
        var g = grant("close")
        g.requestedBy = "someone@acme.example"
        guard case .failure(let e2) = GrantRules.approve(g, by: dan, lifetime: nil, now: F.now) else { Issue.record("approved"); return }
        #expect(e2.description.contains("acts for"))
    }

    @Test func onlyTheNamedApproversDecide() throws {
        #expect(throws: GrantError.self) { try GrantRules.approve(grant("comment"), by: admin, lifetime: nil, now: F.now).get() }
        #expect(throws: GrantError.self) { try GrantRules.approve(grant("close"), by: platformMember, lifetime: nil, now: F.now).get() }
        let c = try GrantRules.approve(grant("comment"), by: platformMember, lifetime: nil, now: F.now).get()
        #expect(c.state == .approved)
        #expect(c.expiresAt == F.now.addingTimeInterval(3600), "the contract's maxLifetime when none is asked")
        #expect(throws: GrantError.self) { try GrantRules.approve(grant("comment"), by: platformMember, lifetime: 7200, now: F.now).get() }
        #expect(throws: GrantError.self) { try GrantRules.approve(c, by: platformMember, lifetime: nil, now: F.now).get() }
        let d = try GrantRules.deny(grant("close"), by: admin, reason: "no", now: F.now).get()
        #expect(d.state == .denied && d.reason == "no")
        #expect(throws: GrantError.self) { try GrantRules.approve(grant("read"), by: admin, lifetime: nil, now: F.now).get() }
    }

    @Test func revokingIsOpenToTheTeamAndAdminsAndEndsTheGrant() throws {
        #expect(try GrantRules.revoke(grant("read"), by: dan, reason: nil, now: F.now).get().state == .revoked)
        #expect(try GrantRules.revoke(grant("read"), by: admin, reason: nil, now: F.now).get().state == .revoked)
        #expect(throws: GrantError.self) { try GrantRules.revoke(grant("read"), by: Decider(name: "frank", isAdmin: false, team: "search"), reason: nil, now: F.now).get() }
        let r = try GrantRules.revoke(grant("read"), by: dan, reason: nil, now: F.now).get()
        #expect(!r.active(at: F.now))
        #expect(throws: GrantError.self) { try GrantRules.revoke(r, by: dan, reason: nil, now: F.now).get() }
        #expect(GrantRules.end(grant("read"), now: F.now)?.state == .ended)
        #expect(GrantRules.end(r, now: F.now) == nil)
    }
}

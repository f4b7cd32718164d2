import Foundation
import Testing
import TarmacLocal

/// The pure parts of the pod sandbox: which mode a machine gets, and which paths Landlock lets a pod read.
@Suite struct IsolationRulesTests {
    /// A small file tree: directories map to their children; files are absent from the map.
    static let tree: [String: [String]] = [
        "/": ["usr", "etc", "tmp", "home", "link-to-data", "link-to-usr"],
        "/usr": ["bin", "lib"], "/etc": ["passwd"], "/tmp": ["other", "srv"],
        "/tmp/srv": ["data", "cred.json", "notes"], "/tmp/srv/data": ["tarmac.db", "pods"], "/home": ["op"], "/home/op": [".ssh"],
    ]
    static let links = ["/link-to-data": "/tmp/srv/data", "/link-to-usr": "/usr"]

    func readable(hidden: [String]) -> [String] {
        Landlock.readable(roots: ["/"], hidden: hidden, children: { Self.tree[$0] }, resolve: { Self.links[$0] ?? $0 })
    }

    @Test func hiddenPathsAndOnlyThemAreLeftOut() {
        let r = readable(hidden: ["/tmp/srv/data", "/tmp/srv/cred.json", "/home/op"])
        #expect(Set(r) == ["/etc", "/link-to-usr", "/tmp/other", "/tmp/srv/notes", "/usr"], "\(r)")
        // Nothing readable lies inside, or is, a hidden path; no link into one is followed.
        for p in r {
            for h in ["/tmp/srv/data", "/tmp/srv/cred.json", "/home/op"] {
                #expect(p != h && !p.hasPrefix(h + "/") && !h.hasPrefix(p == "/" ? "/" : p + "/"), "\(p) exposes \(h)")
            }
        }
        #expect(!r.contains("/link-to-data"))
    }

    @Test func nothingHiddenMeansTheWholeRoot() {
        #expect(readable(hidden: []) == ["/"])
        #expect(readable(hidden: ["/"]) == [])
    }

    @Test func landlockRightsPerABI() {
        #expect(Landlock.Access.handled(abi: 1).rawValue == (1 << 13) - 1)
        #expect(Landlock.Access.handled(abi: 3).contains(.truncate) && !Landlock.Access.handled(abi: 3).contains(.ioctlDev))
        #expect(Landlock.Access.handled(abi: 7).contains([.refer, .truncate, .ioctlDev]))
    }

    @Test func theStrongestAvailableModeIsChosen() throws {
        let root = Isolation.Probe(root: true, landlockABI: 7, privateMounts: true, mountError: nil)
        let rootNoMounts = Isolation.Probe(root: true, landlockABI: 7, privateMounts: false, mountError: "unshare: Operation not permitted")
        let user = Isolation.Probe(root: false, landlockABI: 4, privateMounts: false, mountError: nil)
        let bare = Isolation.Probe(root: false, landlockABI: 0, privateMounts: false, mountError: nil)
        #expect(try Isolation.choose(nil, probe: root).mode == .uid)
        #expect(try Isolation.choose(nil, probe: rootNoMounts).mode == .none, "root pods without their own uid would run as root")
        #expect(try Isolation.choose(nil, probe: user).mode == .landlock)
        #expect(try Isolation.choose(nil, probe: bare).mode == .none)
        #expect(try Isolation.choose(Isolation.Mode.none, probe: root).mode == Isolation.Mode.none)
        #expect(throws: IsolationError.self) { try Isolation.choose(.uid, probe: user) }
        #expect(throws: IsolationError.self) { try Isolation.choose(.uid, probe: rootNoMounts) }
        #expect(throws: IsolationError.self) { try Isolation.choose(.landlock, probe: bare) }
        #expect(throws: IsolationError.self) { try Isolation.choose(.landlock, probe: root) }
        #expect(try Isolation.choose(nil, probe: user).summary.contains("signals NOT scoped"))
        #expect(!(try Isolation.choose(nil, probe: bare)).containsPods)
    }
}

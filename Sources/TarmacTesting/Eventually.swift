/// A wait that did not see its event in time.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var description: String { "waited \(timeout) for \(what), in vain" }
}

/// Waits for an event: checks `condition` every `every` until it holds, and gives up with `WaitTimedOut` after
/// `timeout`. Tests wait for what they need to have happened, never for a fixed time.
public func eventually(_ what: String, timeout: Duration = .seconds(20), every: Duration = .milliseconds(50),
                       _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while true {
        if try await condition() { return }
        guard clock.now < end else { throw WaitTimedOut(what: what, timeout: timeout) }
        try await clock.sleep(for: every)
    }
}

/// Publishes into a process's `TransitionStream` what other processes stored: every replica serves the API and the
/// portal's live views, while the leader writes most transitions. The tail reads the store after the last seq it saw
/// whenever it is woken (the store's notification of a commit, where it has one) and at least every `interval`; the
/// stream drops what it already published and holds a later seq until the ones before it arrive, so subscribers see
/// every transition once, in order, whichever process wrote it.
public struct TransitionTail: Sendable {
    let store: any WorkloadStore
    let stream: TransitionStream
    let wakes: AsyncStream<Void>?
    let interval: Duration
    let page: Int

    public init(store: any WorkloadStore, stream: TransitionStream, wakes: AsyncStream<Void>? = nil, interval: Duration = .seconds(1), page: Int = 1000) {
        self.store = store
        self.stream = stream
        self.wakes = wakes
        self.interval = interval
        self.page = page
    }

    /// Reads and publishes until cancelled, starting after `after` (the stream's start: the store's head when it began).
    /// A read that fails is tried again at the next wake.
    public func run(after: Int64) async {
        let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            if let wakes {
                group.addTask {
                    for await _ in wakes { signal.yield() }
                }
            }
            let interval = self.interval
            group.addTask {
                while !Task.isCancelled {
                    signal.yield()
                    try? await Task.sleep(for: interval)
                }
                signal.finish()
            }
            var last = after
            for await _ in signals {
                if Task.isCancelled { break }
                while let got = try? await store.transitions(after: last, limit: page), let end = got.last?.seq {
                    stream.publish(got)
                    last = end
                    if got.count < page { break }
                }
            }
            group.cancelAll()
        }
    }
}

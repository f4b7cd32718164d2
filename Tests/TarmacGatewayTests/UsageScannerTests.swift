import Testing
@testable import TarmacGateway

/// Token counts read from OpenAI-compatible answers without parsing them whole.
@Suite struct UsageScannerTests {
    static func pair(_ u: (prompt: Int, completion: Int)?) -> [Int]? { u.map { [$0.prompt, $0.completion] } }

    @Test func usageIsReadFromBodiesAndStreams() {
        let body = #"{"id": "c-1", "choices": [{"text": "a \"usage\" in text"}], "usage": {"prompt_tokens": 12, "completion_tokens":7, "total_tokens": 19}}"#
        #expect(Self.pair(UsageScanner.usage(json: Array(body.utf8))) == [12, 7])
        #expect(Self.pair(UsageScanner.usage(json: Array("{\"usage\":{\"completion_tokens\":\n 3}}".utf8))) == [0, 3])
        #expect(UsageScanner.usage(json: Array(#"{"choices": []}"#.utf8)) == nil)
        #expect(UsageScanner.usage(json: Array(#"{"usage": null}"#.utf8)) == nil)
        var s = UsageScanner()
        for part in ["data: {\"choices\": [{\"text\": \"hel", "lo\"}]}\n\n", "data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 4, ",
                     "\"completion_tokens\": 2}}\n\ndata: [DONE]\n\n"] {
            s.feed(Array(part.utf8))
        }
        #expect(Self.pair(s.found) == [4, 2])
        var none = UsageScanner()
        none.feed(Array("data: {\"choices\": []}\n\ndata: [DONE]\n\n".utf8))
        #expect(none.found == nil)
    }
}

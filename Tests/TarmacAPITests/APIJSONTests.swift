import Foundation
import PropertyBased
import TarmacAPI
import Testing

@Suite struct APIJSONTests {
    /// Times go out as RFC 3339 with milliseconds and come back within a millisecond; keys are sorted and slashes not
    /// escaped (clients and the OpenAPI document rely on both).
    @Test func timesRoundTripToTheMillisecond() async {
        await propertyCheck(input: Gen.int(in: 0...4_102_444_800_000)) { millis in
            let at = Date(timeIntervalSince1970: Double(millis) / 1000)
            let view = CheckpointView(at: at, attempt: 2, step: 7, location: "s3://bucket/ckpt/7")
            let data = try APIJSON.encoder.encode(view)
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.hasPrefix(#"{"at":""#) && text.contains("s3://bucket/ckpt/7"), "\(text)")
            let back = try APIJSON.decoder.decode(CheckpointView.self, from: data)
            #expect(abs(back.at.timeIntervalSince1970 - at.timeIntervalSince1970) < 0.0011, "a millisecond, and the rounding of a Double at that time")
            #expect(back.attempt == 2 && back.step == 7)
        }
    }

    /// A client may send times without a fraction.
    @Test func timesWithoutAFractionAreRead() throws {
        let v = try APIJSON.decoder.decode(CheckpointView.self, from: Data(#"{"at":"2026-11-22T10:00:00Z","attempt":1}"#.utf8))
        #expect(v.at == Date(timeIntervalSince1970: 1_795_341_600) && v.step == nil && v.location == nil)
    }
}

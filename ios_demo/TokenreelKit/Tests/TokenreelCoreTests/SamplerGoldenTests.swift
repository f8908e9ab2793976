import TokenreelCore
import XCTest

/// tests/golden/sampler-v1.json (tokenreel/runtime/spec_cases.py): the generator bit for bit, a MaskGIT decode
/// and a draft-and-revise decode pick for pick (the draft scores bit for bit).
final class SamplerGoldenTests: XCTestCase {
    func testSpecVersion() throws {
        XCTAssertEqual(try Golden.json("sampler-v1.json")["spec"]?.stringValue, samplerSpecVersion)
    }

    func testPublishedSplitMix64Sequence() {
        let g = Generator(key: 1234567)
        XCTAssertEqual(g.uint64(start: 0, count: 5),
                       [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821])
    }

    func testGeneratorStream() throws {
        let g = try Golden.json("sampler-v1.json")["generator"]!
        let gen = Generator(key: UInt64(g["key"]!.stringValue!)!)
        XCTAssertEqual(gen.uint64(start: 0, count: 8), g["uint64"]!.arrayValue!.map { UInt64($0.stringValue!)! })
        XCTAssertEqual(gen.derive(7).uint64(start: 0, count: 4),
                       g["derive_7_uint64"]!.arrayValue!.map { UInt64($0.stringValue!)! })
        // hex floats ("0x1.259ed4955eb8ep-1"): compare the bits
        let expected = g["uniform"]!.arrayValue!.map { Double($0.stringValue!)! }
        XCTAssertEqual(gen.uniform(start: 0, count: 4).map(\.bitPattern), expected.map(\.bitPattern))
    }

    func testDecode() throws {
        let d = try Golden.json("sampler-v1.json")["decode"]!
        let splits = d["splits"]!.intValue!, subBits = d["sub_bits"]!.intValue!
        let logits = d["logits"]!.floats   // float32 values written by Python as exact float64 reprs
        var calls = 0
        let out = try maskgitDecode(logits: { sub in
            calls += 1
            XCTAssertEqual(sub.count, splits * d["known"]!.ints.count)
            return logits
        }, tokens: d["tokens_in"]!.ints.map { Int32($0) }, known: d["known"]!.bools, splits: splits, subBits: subBits,
           maskId: 1 << subBits, steps: d["steps"]!.intValue!, seed: Int64(d["seed"]!.intValue!),
           temperature: d["temperature"]!.doubleValue!)
        XCTAssertEqual(out.map { Int($0) }, d["tokens_out"]!.ints)
        XCTAssertEqual(calls, d["steps"]!.intValue!)
    }

    func testRevise() throws {
        let g = try Golden.json("sampler-v1.json")
        let (d, r) = (g["decode"]!, g["revise"]!)
        let splits = d["splits"]!.intValue!, subBits = d["sub_bits"]!.intValue!
        let logits = d["logits"]!.floats
        let known = d["known"]!.bools, tokens = d["tokens_in"]!.ints.map { Int32($0) }
        let draft = r["draft"]!.ints.map { Int32($0) }
        let shown = (0..<known.count).map { Int64(known[$0] ? tokens[$0] : draft[$0]) }
        let scores = draftScores(logits, tokens: shown, positions: (0..<known.count).filter { !known[$0] }, splits: splits,
                                 subBits: subBits)
        XCTAssertEqual(scores.map(\.bitPattern), r["scores"]!.arrayValue!.map { Double($0.stringValue!)!.bitPattern })
        var calls = 0, progress = 0
        let out = try reviseDecode(logits: { _ in calls += 1; return logits }, tokens: tokens, known: known, draft: draft,
                                   splits: splits, subBits: subBits, maskId: 1 << subBits, steps: r["steps"]!.intValue!,
                                   seed: Int64(r["seed"]!.intValue!), threshold: r["threshold"]!.doubleValue!,
                                   temperature: d["temperature"]!.doubleValue!, progress: { progress += $0 })
        XCTAssertEqual(out.map { Int($0) }, r["tokens_out"]!.ints)
        XCTAssertEqual(calls, 1 + r["steps"]!.intValue!)
        XCTAssertEqual(progress, calls)
        // steps 0: the redone tokens sampled from the scoring call's logits, one call in all
        calls = 0
        let corrected = try reviseDecode(logits: { _ in calls += 1; return logits }, tokens: tokens, known: known,
                                         draft: draft, splits: splits, subBits: subBits, maskId: 1 << subBits, steps: 0,
                                         seed: Int64(r["seed"]!.intValue!), threshold: r["threshold"]!.doubleValue!,
                                         temperature: d["temperature"]!.doubleValue!)
        XCTAssertEqual(corrected.map { Int($0) }, r["tokens_out_steps_0"]!.ints)
        XCTAssertEqual(calls, 1)
    }

    func testCosineScheduleEndsAtZero() {
        for unknown in [1, 7, 100, 1280] {
            for steps in [1, 4, 12] { XCTAssertEqual(cosineRemaining(unknown: unknown, step: steps - 1, steps: steps), 0) }
        }
    }
}

import Foundation
@testable import TokenreelCore
import XCTest

/// StepModel's warm-up calls (geometry.start_calls, tokenreel/backends/exported.py `_Step`) on a fake step model
/// whose state depends on its input state: state_out = state_in * 0.5 + x, and its output is the state_in it
/// saw. From zeros, n warm-up calls on x leave 2x(1 - 0.5^n), what the real call must see. The Kotlin port's
/// StepTest checks the same.
final class StepTests: XCTestCase {
    final class Fake {
        var calls = 0
        func run(_ inputs: [Tensor]) -> [Tensor] {
            calls += 1
            let (x, s) = (inputs[0], inputs[1])
            XCTAssertEqual(x.shape, s.shape)
            return [s, Tensor(shape: s.shape, data: zip(s.data, x.data).map { $0 * 0.5 + $1 })]
        }
    }

    func warmed(_ x: Float, _ n: Int) -> Float { var s: Float = 0; for _ in 0..<n { s = s * 0.5 + x }; return s }

    func step(_ fake: Fake, _ shape: [Int], _ startCalls: Int) -> StepModel {
        StepModel(stateShapes: [[1] + shape], startCalls: startCalls) { fake.run($0) }
    }

    func testWarmUpCallsFeedTheFirstInputAndKeepOnlyTheStates() throws {
        for n in [0, 1, 6, 10] {
            let fake = Fake()
            let model = step(fake, [3], n)
            let x = Tensor(shape: [3], data: [1, -2, 0.25])
            let (seen, state, first) = try model(x, state: nil)
            XCTAssertTrue(first)
            XCTAssertEqual(fake.calls, n + 1)              // n warm-up calls, then the real one
            XCTAssertEqual(seen.shape, [3])
            XCTAssertEqual(seen.data, x.data.map { warmed($0, n) })
            XCTAssertEqual(state[0].data, x.data.map { warmed($0, n + 1) })
            // later calls carry the state on, with no warm-up
            let (seen2, _, first2) = try model(Tensor(shape: [3], data: [4, 4, 4]), state: state)
            XCTAssertFalse(first2)
            XCTAssertEqual(fake.calls, n + 2)
            XCTAssertEqual(seen2.data, state[0].data)
        }
    }

    func goldenManifest(_ extra: String) throws -> Manifest {
        let doc = try Golden.json("manifest-start-calls.json")
        return try Manifest.parse(Data(doc["manifest"]!.stringValue!.replacingOccurrences(of: "__START_CALLS__", with: extra).utf8))
    }

    func testTheManifestSaysHowManyCallsAndNoneWithoutStartCalls() throws {
        let v2 = try XCTUnwrap(try goldenManifest(#", "start_calls": {"encoder_step": 6, "decoder_step": 10}"#).geometry.startCalls)
        let v1 = try goldenManifest("").geometry.startCalls
        XCTAssertNil(v1)
        for (role, calls) in [("encoder_step", 6), ("decoder_step", 10)] {
            XCTAssertEqual(v2.of(role: role), calls)
            let fake = Fake()
            _ = try step(fake, [2], v2.of(role: role))(Tensor(shape: [2], data: [1, 1]), state: nil)
            XCTAssertEqual(fake.calls, calls + 1)
        }
        let fake = Fake()      // a v1 manifest (zero start): the real call only, on zero states
        let (seen, _, _) = try step(fake, [2], v1?.encoderStep ?? 0)(Tensor(shape: [2], data: [1, 1]), state: nil)
        XCTAssertEqual(fake.calls, 1)
        XCTAssertEqual(seen.data, [0, 0])
    }

    func testEachDecoderTileWarmsUpOnItsFirstLatentFrame() throws {
        let n = 10, tile = 8
        let fake = Fake()
        let decoder = step(fake, [1, 3, tile, tile], n)     // bits 3, spatial 1: a frame of 3 channels per latent
        let decode = { (t: Tensor, s: [Tensor]?) throws -> (Tensor, [Tensor]) in
            let (frames, state, _) = try decoder(t, state: s)
            return (frames, state)
        }
        let latents = Tensor(shape: [1, 3, 12, 12], data: [Float](repeating: 1, count: 3 * 144))
        let (frames, states) = try decodeTiled(decode, latents: latents, states: nil, tile: (h: tile, w: tile), spatial: 1)
        XCTAssertEqual(states.count, 4)                      // 2 x 2 tiles of 8 over 12
        XCTAssertEqual(fake.calls, 4 * (n + 1))              // each tile: n warm-up calls, then its own
        for v in frames.data { XCTAssertEqual(v, warmed(1, n), accuracy: 1e-6) }
        let (later, _) = try decodeTiled(decode, latents: latents, states: states, tile: (h: tile, w: tile), spatial: 1)
        XCTAssertEqual(fake.calls, 4 * (n + 2))              // then one call a tile
        for v in later.data { XCTAssertEqual(v, warmed(1, n + 1), accuracy: 1e-6) }
    }
}

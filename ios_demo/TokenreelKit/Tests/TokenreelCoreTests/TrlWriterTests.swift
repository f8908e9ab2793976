import Foundation
import TokenreelCore
import XCTest

/// The version-2 writer against tests/golden/trl-write-cases.json (tests/trl_write_cases.py): the same appends
/// give the bytes Python's TrlWriter writes, each chunk's coder chosen as Python chooses it (zstd replayed from
/// Python's payloads), and ans-wave alone without a Zstandard encoder where that is what Python was asked for.
final class TrlWriterTests: XCTestCase {
    /// A Zstandard compressor that gives Python's payload for planes Python compressed (planes hex -> payload hex).
    struct Replay: ZstdEncoder {
        let payloads: [String: JSONValue]
        func compress(_ data: Data) throws -> Data {
            guard let hex = payloads[TrlStreamTests.hex(data)]?.stringValue else { throw TokenreelError("planes Python did not compress") }
            return TrlStreamTests.bytes(hex: hex)
        }
    }

    func cases() throws -> [JSONValue] { try Golden.json("trl-write-cases.json")["files"]?.arrayValue ?? [] }

    func testWritesPythonsBytes() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 7)
        for c in all {
            let name = c["name"]!.stringValue!, grid = c["tokens"]!.flatGrid, meta = c["meta"]!.objectValue!
            let coder = c["coder"]!.stringValue, chunk = c["chunk_frames"]!.intValue!
            var out = Data()
            let writer = try TrlWriter(meta: meta, coder: coder, chunkFrames: chunk, zstd: Replay(payloads: c["zstd"]!.objectValue!)) {
                out.append($0)
            }
            let plane = grid.h * grid.w
            var t = 0
            for a in c["appends"]!.arrayValue! {
                let (n, frames) = (a.ints[0], a.ints[1])
                try writer.append(TokenGrid(t: n, h: grid.h, w: grid.w, data: Array(grid.data[(t * plane)..<((t + n) * plane)])),
                                  frames: frames)
                t += n
            }
            XCTAssertEqual(out.count, writer.bytes, name)
            try writer.close()
            XCTAssertEqual(TrlStreamTests.hex(out), c["hex"]!.stringValue!, name)
            XCTAssertEqual(writer.coders.joined(separator: "+"), c["coders"]!.stringValue!, name)
            if coder == "ans-wave" {        // a port without Zstandard writes the same file
                XCTAssertEqual(TrlStreamTests.hex(try Trl.packStream(grid, meta: meta, chunkFrames: chunk)), c["hex"]!.stringValue!, name)
            }
        }
    }

    func testPackStreamOfTokensV2IsTheGoldenFile() throws {
        let c = try cases().first { $0["name"]?.stringValue == "tokens-v2" }!
        let grid = c["tokens"]!.flatGrid, meta = c["meta"]!.objectValue!
        XCTAssertEqual(try Trl.packStream(grid, meta: meta, chunkFrames: 2), try Golden.data("tokens-v2.trl"))
        let (back, header) = try Trl.unpack(try Trl.packStream(grid, meta: meta))
        XCTAssertEqual(back, grid)
        XCTAssertEqual(header["frames"]?.intValue, 9)
    }

    func testRefusesWhatReadersWouldRefuse() throws {
        let meta: [String: JSONValue] = ["tokenizer": .string("golden"), "tokenizer_sha256": .string(String(repeating: "0", count: 64)),
                                         "bits": .int(1), "fps": .double(25), "size": .array([.int(8), .int(8)]), "frames": .int(2397)]
        // 600 x 1 x 1 zeros: a second ans-wave chunk would be over the cost bound, and there is no zstd
        XCTAssertThrowsError(try Trl.packStream(TokenGrid(t: 600, h: 1, w: 1, repeating: 0), meta: meta, chunkFrames: 300)) {
            XCTAssertTrue(($0 as? TokenreelError)?.message.contains("would be refused by readers") == true, "\($0)")
        }
        var noSize = meta
        noSize["size"] = nil
        XCTAssertThrowsError(try TrlWriter(meta: noSize) { _ in }) {
            XCTAssertEqual(($0 as? TokenreelError)?.message, "cannot write a .trl: header lacks size")
        }
    }
}

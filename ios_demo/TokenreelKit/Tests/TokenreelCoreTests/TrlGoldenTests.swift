import Foundation
import TokenreelCore
import XCTest

/// tests/golden/tokens.json + tokens-ans-ctx.trl + tokens-zstd.trl (tokenreel/runtime/golden.py): the same
/// tokens give the same .trl bytes, and the bytes read back to the same tokens. This core codes ans-ctx
/// itself; zstd only through an injected ZstdDecoder / ZstdEncoder (Apple's Compression has no Zstandard),
/// so here the bit planes around the Zstandard frame are checked against Python's, not libzstd itself.
final class TrlGoldenTests: XCTestCase {
    /// golden.py's TRL_META
    let meta: [String: JSONValue] = [
        "tokenizer": .string("golden"), "tokenizer_sha256": .string(String(repeating: "0", count: 64)),
        "bits": .int(18), "fps": .double(25.0), "size": .array([.int(64), .int(48)]), "frames": .int(9),
        "source_size": .array([.int(64), .int(48)]), "resize": .string("none"),
    ]

    func testWritesTheSameBytes() throws {
        let tokens = try Golden.json("tokens.json").tokenGrid
        let expected = try Golden.data("tokens-ans-ctx.trl")
        let packed = try Trl.pack(tokens, meta: meta, coder: "ans-ctx")
        XCTAssertEqual(packed.count, expected.count)
        XCTAssertEqual(packed, expected)
        // without a zstd encoder, the default choice is ans-ctx: the same file
        XCTAssertEqual(try Trl.pack(tokens, meta: meta), expected)
    }

    func testReadsTheSameTokens() throws {
        let (tokens, header) = try Trl.unpack(try Golden.data("tokens-ans-ctx.trl"))
        XCTAssertEqual(tokens, try Golden.json("tokens.json").tokenGrid)
        XCTAssertEqual(header["coder"]?.stringValue, "ans-ctx")
        guard case .double(let fps)? = header["fps"] else { return XCTFail("fps is not written as a float") }
        XCTAssertEqual(fps, 25.0)
        XCTAssertEqual(header["grid"]?.ints, [3, 6, 8])
    }

    func testZstdWithoutDecoderSaysSo() throws {
        let data = try Golden.data("tokens-zstd.trl")
        XCTAssertThrowsError(try Trl.unpack(data)) { error in
            XCTAssertTrue((error as? TokenreelError)?.message.contains("no Zstandard decoder") == true, "\(error)")
        }
    }

    /// The zstd path past decompression (MSB-first bit planes) with a stand-in decoder that returns the
    /// packed planes of the known tokens.
    func testZstdPlanesWithInjectedDecoder() throws {
        let tokens = try Golden.json("tokens.json").tokenGrid
        struct Stub: ZstdDecoder {
            let raw: Data
            func decompress(_ data: Data, maxOutputSize: Int) throws -> Data { raw }
        }
        var raw = Data(count: (tokens.data.count * 18 + 7) / 8)
        for (k, b) in toPlanes(tokens, bits: 18).enumerated() where b != 0 { raw[k >> 3] |= 0x80 >> (k & 7) }
        let (out, header) = try Trl.unpack(try Golden.data("tokens-zstd.trl"), zstd: Stub(raw: raw))
        XCTAssertEqual(header["coder"]?.stringValue, "zstd")
        XCTAssertEqual(out, tokens)
    }

    /// TOKENREEL_ZSTD_RAW: the payload of tokens-zstd.trl decompressed by Python's zstandard (written by
    /// tests/test_ios_core.py). A stand-in decoder that returns it must give the golden tokens; a stand-in
    /// encoder must be handed exactly those bytes, and returning Python's compressed payload gives its file.
    func testZstdPlanesAsPython() throws {
        let raw = try Data(contentsOf: Golden.path("TOKENREEL_ZSTD_RAW", "the decompressed payload of tokens-zstd.trl"))
        let file = try Golden.data("tokens-zstd.trl"), ans = try Golden.data("tokens-ans-ctx.trl")
        let hlen = Int(file[8]) | Int(file[9]) << 8 | Int(file[10]) << 16 | Int(file[11]) << 24
        let payload = file[(12 + hlen + 8)..<(file.count - 4)]
        XCTAssertEqual(payload.count, Trl.payloadLength(file))
        struct Replay: ZstdDecoder, ZstdEncoder {
            let raw: Data, payload: Data
            func decompress(_ data: Data, maxOutputSize: Int) throws -> Data {
                guard data == payload, maxOutputSize == raw.count else { throw TokenreelError("not the golden payload") }
                return raw
            }
            func compress(_ data: Data) throws -> Data {
                guard data == raw else { throw TokenreelError("the packed bit planes differ from Python's") }
                return payload
            }
        }
        let replay = Replay(raw: raw, payload: Data(payload))
        let tokens = try Golden.json("tokens.json").tokenGrid
        XCTAssertEqual(try Trl.unpack(file, zstd: replay).0, tokens)
        XCTAssertEqual(try Trl.pack(tokens, meta: meta, coder: "zstd", zstd: replay), file)
        // no coder named: the smaller payload, zstd on a tie (Python's min over CODERS)
        XCTAssertEqual(try Trl.pack(tokens, meta: meta, zstd: replay),
                       Trl.payloadLength(file) <= Trl.payloadLength(ans) ? file : ans)
    }

    func testWritesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-trl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.trl")
        let expected = try Golden.data("tokens-ans-ctx.trl")
        XCTAssertEqual(try Trl.write(url, try Golden.json("tokens.json").tokenGrid, meta: meta), expected.count)
        XCTAssertEqual(try Data(contentsOf: url), expected)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["a.trl"])
        XCTAssertEqual(try Trl.read(url).0, try Golden.json("tokens.json").tokenGrid)
    }

    func testRefusesImplausibleGrids() throws {
        // a header that claims a grid too large to allocate (a fresh CRC): refused before any allocation
        let packed = try Trl.pack(TokenGrid(t: 1, h: 1, w: 1, repeating: 0), meta: meta, coder: "ans-ctx")
        let hlen = Int(packed[8]) | Int(packed[9]) << 8
        let text = String(decoding: packed[12..<(12 + hlen)], as: UTF8.self)
        let bigger = Data(text.replacingOccurrences(of: "\"grid\": [1, 1, 1]", with: "\"grid\": [9999, 1024, 1024]").utf8)
        XCTAssertNotEqual(bigger.count, hlen)
        var body = Data(packed[0..<8])
        for k in 0..<4 { body.append(UInt8(truncatingIfNeeded: bigger.count >> (8 * k))) }
        body.append(bigger)
        body.append(packed[(12 + hlen)..<(packed.count - 4)])
        let crc = crc32(body)
        for k in 0..<4 { body.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k)))) }
        XCTAssertThrowsError(try Trl.unpack(body)) { error in
            XCTAssertTrue((error as? TokenreelError)?.message.contains("implausible token grid 9999x1024x1024") == true, "\(error)")
        }
    }

    func testChecksInOrder() throws {
        let good = try Golden.data("tokens-ans-ctx.trl")
        func message(_ d: Data) -> String {
            do { _ = try Trl.unpack(d); return "" } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
        }
        var d = good; d[0] = 0
        XCTAssertTrue(message(d).contains("wrong magic bytes"))
        d = good; d[4] = 2
        XCTAssertTrue(message(d).contains("version 2 is not supported"))
        d = good; d[good.count - 10] ^= 1
        XCTAssertTrue(message(d).contains("checksum mismatch"))
        XCTAssertTrue(message(good.prefix(30)).contains("truncated or corrupt header"))
    }

    func testRoundTripRandomGrids() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            let (t, h, w, bits) = (Int.random(in: 1...3, using: &rng), Int.random(in: 1...6, using: &rng),
                                   Int.random(in: 1...9, using: &rng), Int.random(in: 1...24, using: &rng))
            let data = (0..<(t * h * w)).map { _ in Int32.random(in: 0..<(Int32(1) << Int32(bits)), using: &rng) }
            let grid = TokenGrid(t: t, h: h, w: w, data: data)
            var m = meta; m["bits"] = .int(Int64(bits))
            let (back, _) = try Trl.unpack(try Trl.pack(grid, meta: m))
            XCTAssertEqual(back, grid)
        }
    }

    func testPythonJSONLayout() throws {
        XCTAssertEqual(try JSONValue.double(25.0).pythonDumps(), "25.0")
        XCTAssertEqual(try JSONValue.double(29.97002997002997).pythonDumps(), "29.97002997002997")
        XCTAssertEqual(try JSONValue.double(1e16).pythonDumps(), "1e+16")
        XCTAssertEqual(try JSONValue.double(1e-5).pythonDumps(), "1e-05")
        XCTAssertEqual(try JSONValue.double(0.0001).pythonDumps(), "0.0001")
        XCTAssertEqual(try JSONValue.double(9.5e15).pythonDumps(), "9500000000000000.0")
        XCTAssertEqual(try JSONValue.string("é\"\n\u{1F600}").pythonDumps(), "\"\\u00e9\\\"\\n\\ud83d\\ude00\"")
        XCTAssertEqual(try JSONValue.object(["b": .int(1), "a": .array([.int(1), .double(2.5)])]).pythonDumps(),
                       "{\"a\": [1, 2.5], \"b\": 1}")
    }
}

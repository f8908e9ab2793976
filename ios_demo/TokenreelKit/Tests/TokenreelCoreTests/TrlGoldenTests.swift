import Foundation
import TokenreelCore
import XCTest

/// tests/golden/tokens.json + tokens-ans-wave.trl + tokens-ans-ctx.trl + tokens-zstd.trl
/// (tokenreel/runtime/spec_cases.py): the same tokens give the same .trl bytes, and the bytes read back to the
/// same tokens. This core codes ans-wave and ans-ctx itself; zstd only through an injected ZstdDecoder / ZstdEncoder (Apple's Compression has no Zstandard),
/// so here the bit planes around the Zstandard frame are checked against Python's, not libzstd itself.
final class TrlGoldenTests: XCTestCase {
    /// spec_cases.py's TRL_META
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
    }

    func testReadsAnsWave() throws {
        let (tokens, header) = try Trl.unpack(try Golden.data("tokens-ans-wave.trl"))
        XCTAssertEqual(tokens, try Golden.json("tokens.json").tokenGrid)
        XCTAssertEqual(header["coder"]?.stringValue, "ans-wave")
        XCTAssertEqual(header["grid"]?.ints, [3, 6, 8])
        XCTAssertEqual(header["planes_crc32"], try Trl.unpack(try Golden.data("tokens-ans-ctx.trl")).1["planes_crc32"])
    }

    func testWritesAnsWaveBytes() throws {
        let tokens = try Golden.json("tokens.json").tokenGrid
        let expected = try Golden.data("tokens-ans-wave.trl")
        XCTAssertEqual(try Trl.pack(tokens, meta: meta, coder: "ans-wave"), expected)
        // without a zstd encoder, the default choice is ans-wave (trl.DEFAULT_CODERS: ans-wave, zstd)
        XCTAssertEqual(try Trl.pack(tokens, meta: meta), expected)
        XCTAssertEqual(AnsWave.encode(tokens, bits: 18, groupBits: 100).count, Trl.payloadLength(expected))
    }

    /// ans-wave on grids the golden file does not reach: thin ones (empty waves), 1 and 24 bits, and the
    /// encoder's groups (any group size gives the same bytes).
    func testAnsWaveRoundTrips() throws {
        var rng = SystemRandomNumberGenerator()
        for (t, h, w, bits) in [(1, 1, 1, 1), (2, 3, 5, 7), (4, 1, 9, 18), (3, 5, 1, 24), (5, 6, 8, 18), (7, 2, 3, 3),
                                (9, 1, 1, 18), (1, 7, 4, 24), (6, 12, 20, 18)] {
            // a moving copy of frame 0 over random bits: the contexts see both structure and noise
            let hw = h * w, top = Int32(1) << Int32(bits)
            let first = (0..<hw).map { _ in Int32.random(in: 0..<top, using: &rng) }
            let grid = TokenGrid(t: t, h: h, w: w, data: (0..<(t * hw)).map { p in
                p % w < w / 2 ? first[(p % hw + p / hw) % hw] : Int32.random(in: 0..<top, using: &rng)
            })
            let payload = AnsWave.encode(grid, bits: bits)
            XCTAssertEqual(try AnsWave.decode(payload, T: t, D: bits, H: h, W: w), grid, "\(t)x\(h)x\(w), \(bits) bits")
            XCTAssertEqual(AnsWave.encode(grid, bits: bits, groupBits: 50), payload, "\(t)x\(h)x\(w) in groups")
        }
    }

    /// ans-wave's limits (docs/trl-format.md): both cost bounds before decoding, at their edges; the coder
    /// empty exactly at the end.
    func testAnsWaveReaderLimits() throws {
        let wave = try Golden.data("tokens-ans-wave.trl")
        func regrid(_ grid: String) -> Data {
            withHeader(wave) { text in
                text.replacingOccurrences(of: #""planes_crc32": \d+, "#, with: "", options: .regularExpression)
                    .replacingOccurrences(of: "\"grid\": [3, 6, 8]", with: "\"grid\": \(grid)")
            }
        }
        XCTAssertEqual(Trl.payloadLength(wave), 308)
        XCTAssertEqual(AnsWave.waves(T: 666, H: 1, W: 1), 1331)
        // waves: W + H + 2T - 3 <= p + 1024 (1332); the T x 1 x 1 grids are well inside the token bound
        XCTAssertTrue(unpackError(regrid("[667, 1, 1]")).contains("a 308-byte ans-wave payload cannot hold a 667x1x1 grid"),
                      unpackError(regrid("[667, 1, 1]")))
        XCTAssertTrue(unpackError(regrid("[666, 1, 1]")).contains("holds more than the grid"), unpackError(regrid("[666, 1, 1]")))
        XCTAssertTrue(Trl.ansAdmissible(T: 667, H: 1, W: 1, payloadLength: 308)
                      && !Trl.ansAdmissible(T: 667, H: 1, W: 1, payloadLength: 308, coder: "ans-wave"))
        // tokens: T*H*W <= 16 p + 16384 (21 312 = 333 x 8 x 8)
        XCTAssertTrue(unpackError(regrid("[334, 8, 8]")).contains("ans-wave payload cannot hold"), unpackError(regrid("[334, 8, 8]")))
        XCTAssertTrue(unpackError(regrid("[333, 8, 8]")).contains("holds more than the grid"), unpackError(regrid("[333, 8, 8]")))
        XCTAssertEqual(try Trl.unpack(regrid("[3, 6, 8]")).0, try Golden.json("tokens.json").tokenGrid)
        // the payload's words: whole, no zero last word, none left over
        let hlen = Int(wave[8]) | Int(wave[9]) << 8
        let payload = Data(wave[(12 + hlen + 8)..<(wave.count - 4)])
        func withPayload(_ p: Data) -> Data {
            var body = Data(wave[0..<(12 + hlen)])
            for k in 0..<8 { body.append(UInt8(truncatingIfNeeded: p.count >> (8 * k))) }
            body.append(p)
            let crc = crc32(body)
            for k in 0..<4 { body.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k)))) }
            return body
        }
        XCTAssertEqual(withPayload(payload), wave)
        XCTAssertTrue(unpackError(withPayload(payload + Data([1]))).contains("payload does not decode (the ans-wave payload is not whole 32-bit words)"),
                      unpackError(withPayload(payload + Data([1]))))
        XCTAssertTrue(unpackError(withPayload(payload + Data(count: 4))).contains("payload does not decode"))
        XCTAssertTrue(unpackError(withPayload(Data([1, 0, 0, 0]) + payload)).contains("holds more than the grid"))
        // a payload that runs out early decodes the rest as 0, which planes_crc32 refuses
        XCTAssertTrue(unpackError(withPayload(Data())).contains("planes_crc32 differs"), unpackError(withPayload(Data())))
    }

    /// A writer without zstd refuses an ans-wave file readers would refuse (over a cost bound) rather than write it.
    func testAnsWaveWriterKeepsTheBound() throws {
        var m = meta; m["bits"] = .int(1)
        let still = TokenGrid(t: 1500, h: 1, w: 1, repeating: 0)    // 2 999 waves of one zero bit: a few bytes
        XCTAssertThrowsError(try Trl.pack(still, meta: m)) { error in
            let message = (error as? TokenreelError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains("ans-wave payload of this 1500x1x1 grid would be refused by readers"), message)
        }
        XCTAssertEqual(try Trl.unpack(try Trl.pack(still, meta: m, coder: "ans-ctx")).0, still)   // ans-ctx counts only tokens
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
        let file = try Golden.data("tokens-zstd.trl"), wave = try Golden.data("tokens-ans-wave.trl")
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
        // no coder named: the smaller payload, ans-wave on a tie (Python's min over DEFAULT_CODERS)
        XCTAssertEqual(try Trl.pack(tokens, meta: meta, zstd: replay),
                       Trl.payloadLength(wave) <= Trl.payloadLength(file) ? wave : file)
    }

    func testWritesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-trl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.trl")
        // version 2, as trl.write (TrlWriterTests pins its bytes); version 1 still reads
        let expected = try Trl.packStream(try Golden.json("tokens.json").tokenGrid, meta: meta)
        XCTAssertEqual(expected[4], Trl.versionStream)
        XCTAssertEqual(try Trl.write(url, try Golden.json("tokens.json").tokenGrid, meta: meta), expected.count)
        XCTAssertEqual(try Data(contentsOf: url), expected)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["a.trl"])
        XCTAssertEqual(try Trl.read(url).0, try Golden.json("tokens.json").tokenGrid)
    }

    /// The header text of a packed file.
    func headerText(_ packed: Data) -> String {
        let hlen = Int(packed[8]) | Int(packed[9]) << 8 | Int(packed[10]) << 16
        return String(decoding: packed[12..<(12 + hlen)], as: UTF8.self)
    }

    /// The same file with its header text edited (and a fresh file CRC).
    func withHeader(_ packed: Data, _ edit: (String) -> String) -> Data {
        let hlen = Int(packed[8]) | Int(packed[9]) << 8 | Int(packed[10]) << 16
        let text = String(decoding: packed[12..<(12 + hlen)], as: UTF8.self)
        let edited = Data(edit(text).utf8)
        var body = Data(packed[0..<8])
        for k in 0..<4 { body.append(UInt8(truncatingIfNeeded: edited.count >> (8 * k))) }
        body.append(edited)
        body.append(packed[(12 + hlen)..<(packed.count - 4)])
        let crc = crc32(body)
        for k in 0..<4 { body.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k)))) }
        return body
    }

    func unpackError(_ data: Data) -> String {
        do { _ = try Trl.unpack(data); return "" } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
    }

    /// planes_crc32 as Python computes it: the writer computes it from the grid (a source header's value
    /// is not carried over), the reader checks it when present and reads files without it.
    func testPlanesCrc32() throws {
        let tokens = try Golden.json("tokens.json").tokenGrid
        let expected = try Golden.data("tokens-ans-ctx.trl")
        guard case .int(let golden)? = try Trl.unpack(expected).1["planes_crc32"] else {
            return XCTFail("the golden file has no integer planes_crc32")
        }
        XCTAssertEqual(UInt32(golden), Trl.planesCrc32(Trl.packBits(toPlanes(tokens, bits: 18)), T: 3, D: 18, H: 6, W: 8))
        XCTAssertEqual(crc32(Data("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(crc32(Data("56789".utf8), continuing: crc32(Data("1234".utf8))), 0xCBF4_3926)
        // a stale value in the meta (an edit of another file) is replaced by the grid's own
        var stale = meta; stale["planes_crc32"] = .int(12345)
        XCTAssertEqual(try Trl.pack(tokens, meta: stale, coder: "ans-ctx"), expected)
        // a header whose planes_crc32 is not the payload's is refused
        let wrong = withHeader(expected) { $0.replacingOccurrences(of: "\"planes_crc32\": \(golden)",
                                                                   with: "\"planes_crc32\": \((golden + 1) % (1 << 32))") }
        XCTAssertNotEqual(wrong, expected)
        XCTAssertTrue(unpackError(wrong).contains("planes_crc32 differs"), unpackError(wrong))
        let bad = withHeader(expected) { $0.replacingOccurrences(of: "\"planes_crc32\": \(golden)", with: "\"planes_crc32\": -1") }
        XCTAssertTrue(unpackError(bad).contains("planes_crc32"), unpackError(bad))
        // files written before planes_crc32 (no key) still read
        let old = withHeader(expected) { $0.replacingOccurrences(of: "\"planes_crc32\": \(golden), ", with: "") }
        XCTAssertFalse(headerText(old).contains("planes_crc32"))
        XCTAssertEqual(try Trl.unpack(old).0, tokens)
    }

    /// The reader limits of docs/trl-format.md: the payload must justify the grid before it is decoded
    /// and decode to exactly the grid.
    func testReaderLimits() throws {
        let ans = try Golden.data("tokens-ans-ctx.trl"), zst = try Golden.data("tokens-zstd.trl")
        func regrid(_ d: Data, _ grid: String) -> Data {
            withHeader(d) { text in
                let noCrc = text.replacingOccurrences(of: #""planes_crc32": \d+, "#, with: "", options: .regularExpression)
                return noCrc.replacingOccurrences(of: "\"grid\": [3, 6, 8]", with: "\"grid\": \(grid)")
            }
        }
        XCTAssertEqual(Trl.maxTokens, 1 << 23)
        XCTAssertTrue(unpackError(regrid(ans, "[8193, 32, 32]")).contains("header field 'grid'"))
        // ans-ctx: at most 16 tokens a payload byte beyond 16384, checked before decoding
        let plen = Trl.payloadLength(ans)
        let over = (16 * plen + 16384) / 1024 + 1
        XCTAssertTrue(unpackError(regrid(ans, "[\(over), 32, 32]")).contains("ans-ctx payload cannot hold"),
                      unpackError(regrid(ans, "[\(over), 32, 32]")))
        // ... and the coder empty exactly after the last token
        XCTAssertTrue(unpackError(regrid(ans, "[2, 6, 8]")).contains("holds more than the grid"),
                      unpackError(regrid(ans, "[2, 6, 8]")))
        XCTAssertEqual(try Trl.unpack(regrid(ans, "[3, 6, 8]")).0, try Golden.json("tokens.json").tokenGrid)
        // zstd: the declared content size, before decompressing (the stand-in decoder must not be reached)
        do { _ = try Trl.unpack(regrid(zst, "[2, 6, 8]"), zstd: NeverZstd()); XCTFail("accepted a lying grid") } catch {
            let m = (error as? TokenreelError)?.message ?? "\(error)"
            XCTAssertTrue(m.contains("declares 324 content size; the grid needs 216 bytes"), m)
        }
        let hlen = Int(zst[8]) | Int(zst[9]) << 8
        let frame = Data(zst[(12 + hlen + 8)..<(zst.count - 4)])
        XCTAssertEqual(try Trl.zstdFrame(frame), 324)
        XCTAssertThrowsError(try Trl.zstdFrame(frame + Data([0])))
        XCTAssertThrowsError(try Trl.zstdFrame(frame.prefix(frame.count - 1)))
        XCTAssertThrowsError(try Trl.zstdFrame(Data([1, 2, 3, 4, 5, 6])))
    }

    /// A Zstandard decoder that must not be reached: a frame's declared size is checked before decompressing.
    struct NeverZstd: ZstdDecoder {
        func decompress(_ data: Data, maxOutputSize: Int) throws -> Data { throw TokenreelError("decompressed") }
    }

    /// tests/golden/bad-trl (tests/bad_trl_cases.py, shared with Python and Kotlin): each hostile file is
    /// refused with one line that names the check, before any decompression, quickly.
    func testRefusesTheGoldenBadFiles() throws {
        let folder = Golden.dir.appendingPathComponent("bad-trl")
        guard let index = try Golden.json("index.json", in: folder).objectValue else { return XCTFail("index.json is not an object") }
        XCTAssertGreaterThanOrEqual(index.count, 30)
        for (name, c) in index.sorted(by: { $0.key < $1.key }) {
            let url = folder.appendingPathComponent(name)
            let fragment = c["error"]?.stringValue ?? "?"
            let t0 = Date()
            do {
                _ = try Trl.read(url, zstd: NeverZstd())
                XCTFail("\(name): accepted (\(c["wrong"]?.stringValue ?? ""))")
            } catch let e as TokenreelError {
                XCTAssertTrue(e.message.contains(fragment), "\(name): '\(e.message)' lacks '\(fragment)'")
                XCTAssertTrue(!e.message.contains("\n") && e.message.hasPrefix(url.path), "\(name): '\(e.message)' is not one line about the file")
            } catch {
                XCTFail("\(name): \(error), not a TokenreelError")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "\(name) took too long to refuse")
        }
    }

    /// The writer checks its header as readers do (trl.pack): it never writes a file they refuse.
    func testWriterChecksTheHeader() throws {
        let tokens = try Golden.json("tokens.json").tokenGrid
        let cases: [(String, JSONValue, String)] = [("tokenizer_sha256", .string("ab"), "'tokenizer_sha256'"),
                                                    ("fps", .double(.infinity), "inf"), ("frames", .string("9"), "'frames'"),
                                                    ("size", .array([.int(0), .int(48)]), "'size'")]
        for (key, value, fragment) in cases {
            var bad = meta; bad[key] = value
            XCTAssertThrowsError(try Trl.pack(tokens, meta: bad, coder: "ans-ctx")) { error in
                let m = (error as? TokenreelError)?.message ?? "\(error)"
                XCTAssertTrue(m.contains(fragment), m)
            }
        }
    }

    func testRefusesImplausibleGrids() throws {
        // a header that claims a grid too large to allocate (a fresh CRC): refused before any allocation
        let packed = try Trl.pack(TokenGrid(t: 1, h: 1, w: 1, repeating: 0), meta: meta, coder: "ans-ctx")
        XCTAssertTrue(headerText(packed).contains("\"grid\": [1, 1, 1]"))
        let body = withHeader(packed) { $0.replacingOccurrences(of: "\"grid\": [1, 1, 1]", with: "\"grid\": [9999, 1024, 1024]") }
        XCTAssertThrowsError(try Trl.unpack(body)) { error in
            XCTAssertTrue((error as? TokenreelError)?.message.contains("header field 'grid' is [9999, 1024, 1024]") == true, "\(error)")
        }
    }

    func testChecksInOrder() throws {
        let good = try Golden.data("tokens-ans-ctx.trl")
        func message(_ d: Data) -> String {
            do { _ = try Trl.unpack(d); return "" } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
        }
        var d = good; d[0] = 0
        XCTAssertTrue(message(d).contains("wrong magic bytes"))
        d = good; d[4] = 3
        XCTAssertTrue(message(d).contains("version 3 is not supported (this reader reads versions 1 and 2)"), message(d))
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

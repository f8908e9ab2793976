import Foundation
import TokenreelCore
import XCTest

/// Version-2 .trl files (docs/trl-format.md, "Version 2"): tests/golden/tokens-v2.trl reads to tokens.json, and
/// the files and cuts of tests/golden/trl-stream-cases.json (tests/trl_stream_cases.py) read as Python's
/// trl.unpack(data[:at], partial=True) reads them: the same complete chunks, frames, coders and reason for
/// stopping, the same one-line errors; tests/golden/bad-trl's version-2 files recover what Python recovers.
final class TrlStreamTests: XCTestCase {
    static func bytes(hex: String) -> Data {
        let digits = Array(hex.utf8).map { $0 <= 57 ? $0 - 48 : $0 - 87 }
        return Data((0..<(digits.count / 2)).map { digits[2 * $0] << 4 | digits[2 * $0 + 1] })
    }

    static func hex(_ d: Data) -> String { d.map { String(format: "%02x", $0) }.joined() }

    /// A Zstandard decoder that replays the decompressions Python wrote beside a file (payload hex -> planes hex).
    struct Replay: ZstdDecoder {
        let planes: [String: JSONValue]
        func decompress(_ data: Data, maxOutputSize: Int) throws -> Data {
            guard let raw = planes[TrlStreamTests.hex(data)]?.stringValue else { throw TokenreelError("not a payload of the golden file") }
            let out = TrlStreamTests.bytes(hex: raw)
            guard out.count == maxOutputSize else { throw TokenreelError("told \(maxOutputSize) bytes, not \(out.count)") }
            return out
        }
    }

    /// A Zstandard decoder that must not be reached: a chunk's declared size is checked before decompressing.
    struct NeverZstd: ZstdDecoder {
        func decompress(_ data: Data, maxOutputSize: Int) throws -> Data { throw TokenreelError("decompressed") }
    }

    func cases() throws -> [JSONValue] { try Golden.json("trl-stream-cases.json")["files"]?.arrayValue ?? [] }

    func message(_ block: () throws -> Any) -> String? {
        do { _ = try block(); return nil } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
    }

    func testReadsTheGoldenFile() throws {
        let data = try Golden.data("tokens-v2.trl"), tokens = try Golden.json("tokens.json").tokenGrid
        let (grid, header) = try Trl.unpack(data)
        XCTAssertEqual(grid, tokens)
        XCTAssertEqual(header["grid"]?.ints, [3, 6, 8])
        XCTAssertEqual(header["frames"], .int(9))
        XCTAssertEqual(header["coder"], .string("ans-wave"))
        XCTAssertTrue(header["grid_hw"] == nil && header["version"] == nil)     // a strict read: no partial fields
        let (again, partial) = try Trl.read(Golden.dir.appendingPathComponent("tokens-v2.trl"), partial: true)
        XCTAssertEqual(again, tokens)
        XCTAssertEqual(partial["chunks"], .int(2))
        XCTAssertEqual(partial["version"], .int(2))
        XCTAssertEqual(partial["complete"], .bool(true))
        XCTAssertNil(partial["stopped"])
        XCTAssertEqual(Trl.payloadLength(data), 212 + 100)
        // the version-1 golden files read partially too: one whole chunk
        let (v1, h1) = try Trl.read(Golden.dir.appendingPathComponent("tokens-ans-wave.trl"), partial: true)
        XCTAssertEqual(v1, tokens)
        XCTAssertEqual([h1["version"], h1["complete"], h1["chunks"]], [.int(1), .bool(true), .int(1)])
    }

    /// Every file of trl-stream-cases.json, whole and cut around every record boundary, as Python reads it.
    func testReadsEveryCutAsPython() throws {
        var cuts = 0
        for c in try cases() {
            let name = c["name"]!.stringValue!
            let data = Self.bytes(hex: c["hex"]!.stringValue!)
            if name == "tokens-v2.trl" { XCTAssertEqual(data, try Golden.data(name)) }
            let zstd = Replay(planes: c["zstd"]!.objectValue!)
            let shape = c["tokens"]!["shape"]!.ints, all = c["tokens"]!["data"]!.ints.map { Int32($0) }
            let tokens = TokenGrid(t: shape[0], h: shape[1], w: shape[2], data: all)
            let (whole, header) = try Trl.unpack(data, zstd: zstd, partial: true)
            XCTAssertEqual(JSONValue.object(header), c["header"], name)
            XCTAssertEqual(whole, tokens, name)
            XCTAssertEqual(try Trl.unpack(data, zstd: zstd).0, tokens, name)
            for cut in c["cuts"]!.arrayValue! {
                let at = cut["at"]!.intValue!, part = data.prefix(at), what = "\(name) cut at \(at)"
                cuts += 1
                if let error = cut["error"]?.stringValue {
                    XCTAssertEqual(message { try Trl.unpack(part, zstd: zstd, partial: true) }, error, what)
                    XCTAssertEqual(message { try Trl.unpack(part, zstd: zstd) }, error, what)
                    continue
                }
                let (grid, h) = try Trl.unpack(part, zstd: zstd, partial: true)
                for key in ["chunks", "grid", "frames", "coder", "complete"] { XCTAssertEqual(h[key], cut[key], "\(what): \(key)") }
                XCTAssertEqual(h["stopped"] ?? .null, cut["stopped"], what)
                let t = cut["grid"]!.ints[0]
                XCTAssertEqual(grid, TokenGrid(t: t, h: shape[1], w: shape[2], data: Array(all.prefix(t * shape[1] * shape[2]))), what)
                XCTAssertEqual(message { try Trl.unpack(part, zstd: zstd) }, cut["strict_error"]?.stringValue, what)
            }
        }
        XCTAssertGreaterThanOrEqual(cuts, 100)
    }

    /// A file still being written, read from disk: the complete chunks so far; a strict read says it is incomplete.
    func testReadsAFileOnDiskPartially() throws {
        let data = try Golden.data("tokens-v2.trl"), tokens = try Golden.json("tokens.json").tokenGrid
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-trl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("rec.trl")
        try data.prefix(data.count - 30).write(to: url)        // inside chunk 2
        let (grid, header) = try Trl.read(url, partial: true)
        XCTAssertEqual(header["chunks"], .int(1))
        XCTAssertEqual(header["stopped"], .string("the file ends in chunk 2"))
        XCTAssertEqual(grid, TokenGrid(t: 2, h: 6, w: 8, data: Array(tokens.data.prefix(96))))
        let m = message { try Trl.read(url) } ?? ""
        XCTAssertTrue(m.hasPrefix(url.path) && m.contains("incomplete .trl: the file ends in chunk 2; 1 complete chunk (2 latent frames, 5 frames)"), m)
    }

    /// Without a Zstandard decoder a zstd chunk is where a partial read stops; a strict read says why, not "incomplete".
    func testZstdChunksNeedADecoder() throws {
        guard let mixed = try cases().first(where: { $0["name"]?.stringValue == "mixed.trl" }) else { return XCTFail("no mixed.trl") }
        let data = Self.bytes(hex: mixed["hex"]!.stringValue!)
        let (_, header) = try Trl.unpack(data, partial: true)
        XCTAssertEqual(header["chunks"], .int(1))
        XCTAssertEqual(header["stopped"], .string("chunk 2 is zstd-compressed and this build has no Zstandard decoder"))
        let m = message { try Trl.unpack(data) } ?? ""
        XCTAssertTrue(m.hasPrefix("token file: chunk 2 is zstd-compressed and this build has no Zstandard decoder"), m)
    }

    /// tests/golden/bad-trl: a partial read of each recovers what Python's does (index.json "partial"), or refuses
    /// the file too.
    func testPartialReadsOfTheGoldenBadFiles() throws {
        let folder = Golden.dir.appendingPathComponent("bad-trl")
        guard let index = try Golden.json("index.json", in: folder).objectValue else { return XCTFail("index.json is not an object") }
        var v2 = 0
        for (name, c) in index.sorted(by: { $0.key < $1.key }) {
            let url = folder.appendingPathComponent(name), t0 = Date()
            if let expected = c["partial"], expected != .null {
                let (grid, header) = try Trl.read(url, zstd: NeverZstd(), partial: true)
                XCTAssertEqual(header["chunks"], expected["chunks"], name)
                XCTAssertEqual(header["stopped"], expected["stopped"], name)
                XCTAssertEqual(header["complete"], .bool(false), name)
                XCTAssertEqual([grid.t], header["grid"]?.ints.prefix(1).map { $0 }, name)
                v2 += 1
            } else {
                let m = message { try Trl.read(url, zstd: NeverZstd(), partial: true) } ?? ""
                XCTAssertTrue(m.hasPrefix(url.path) && m.contains(c["error"]?.stringValue ?? "?"), "\(name): \(m)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "\(name) took too long")
        }
        XCTAssertGreaterThanOrEqual(v2, 10)
    }

    /// Hostile chunk fields a forger can set with every checksum right: refused before any work, the chunks
    /// before kept, in trl.py's words.
    func testHostileChunksStopBeforeAnyWork() throws {
        let data = try Golden.data("tokens-v2.trl"), tokens = try Golden.json("tokens.json").tokenGrid
        let chunk2 = 12 + 216 + 4 + 16 + 212 + 4
        XCTAssertEqual(data[chunk2], 0x46)
        func patched(_ at: Int, _ bytes: [UInt8]) -> Data {
            var out = data
            for (i, b) in bytes.enumerated() { out[at + i] = b }
            // every crc32 after the change made right again: the header's, each chunk's, the end chunk's
            for end in [12 + 216 + 4, chunk2, chunk2 + 16 + 100 + 4, data.count] {
                let crc = crc32(out.prefix(end - 4))
                for k in 0..<4 { out[end - 4 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
            }
            return out
        }
        XCTAssertEqual(patched(0, []), data)
        for (bytes, why) in [
            (patched(chunk2 + 2, [0xff, 0xff]), "chunk 2: a 100-byte ans-wave payload cannot hold 65535x6x8 tokens"),
            (patched(chunk2 + 12, [0xff, 0xff, 0xff, 0xff]), "chunk 2: a 4294967295-byte payload is longer than any coder writes for 1x6x8 tokens"),
            (patched(chunk2 + 4, [0xff, 0xff, 0xff, 0xff]), "chunk 2 takes the file past the limits (65536 chunks, 8388608 tokens)"),
            (patched(chunk2, [0x27]), "chunk 2 is corrupt (kind b\"'\", coder 1, 1 latent frames)"),
            (patched(chunk2, [0x5c]), "chunk 2 is corrupt (kind b'\\\\', coder 1, 1 latent frames)"),
            (patched(chunk2, [0x09]), "chunk 2 is corrupt (kind b'\\t', coder 1, 1 latent frames)"),
            (patched(chunk2, [0xff]), "chunk 2 is corrupt (kind b'\\xff', coder 1, 1 latent frames)"),
            (patched(chunk2 + 1, [0, 0, 0]), "chunk 2 is corrupt (kind b'F', coder 0, 0 latent frames)"),
        ] {
            let t0 = Date()
            let (grid, header) = try Trl.unpack(bytes, partial: true)
            XCTAssertLessThan(Date().timeIntervalSince(t0), 1, why)
            XCTAssertEqual(header["stopped"], .string(why))
            XCTAssertEqual(header["chunks"], .int(1))
            XCTAssertEqual(grid, TokenGrid(t: 2, h: 6, w: 8, data: Array(tokens.data.prefix(96))))
        }
    }
}

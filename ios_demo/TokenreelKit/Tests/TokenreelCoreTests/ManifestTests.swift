import Foundation
@testable import TokenreelCore
import XCTest

/// Manifest.swift against a hand-written manifest and a real export (TOKENREEL_EXPORT_DIR); JSON.swift's
/// parser (the Kotlin port's ManifestTest and JsonTest check the same).
final class ManifestTests: XCTestCase {
    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// tests/golden/manifest-template.json, the hand-written manifest both ports' tests read.
    func manifestText(sha: String, bytes: Int) throws -> String {
        try String(contentsOf: Golden.dir.appendingPathComponent("manifest-template.json"), encoding: .utf8)
            .replacingOccurrences(of: "__SHA__", with: sha).replacingOccurrences(of: "__BYTES__", with: "\(bytes)")
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
    }

    func testFindsAndVerifies() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("transformer.int8.onnx")
        try Data("not really a model".utf8).write(to: model)
        try Data(try manifestText(sha: try fileSHA256(model), bytes: try pathBytes(model)).utf8)
            .write(to: dir.appendingPathComponent("manifest.json"))
        let m = try Manifest.read(folder: dir, verify: false)
        XCTAssertEqual(m.geometry.window, [5, 16, 16])
        XCTAssertEqual(m.geometry.maskId, 512)
        XCTAssertEqual(m.geometry.frameSize, [224, 128])
        XCTAssertEqual(m.weights["tokenizer"]?.id, "tok-v1")
        let tf = try m.find(role: "transformer", format: "onnx", precision: "int8")
        XCTAssertEqual(tf.outputs[0].name, "logits")
        XCTAssertEqual(tf.inputs[0].shape, [1, 2, 1280])
        XCTAssertNoThrow(try m.verify(tf, folder: dir))
        let encoder = try m.find(role: "encoder_step", format: "onnx", precision: "fp32")
        XCTAssertEqual(encoder.state.map { [$0.input, $0.output] }, [["state_in_0", "state_out_0"]])
        XCTAssertEqual(m.precisions(format: "onnx"), [])     // neither precision has all three roles
        XCTAssertTrue(message { _ = try m.find(role: "transformer", format: "executorch", precision: "int8") }
            .contains("--formats executorch --precision int8"))
        let handle = try FileHandle(forWritingTo: model)      // changed since export
        try handle.seekToEnd(); try handle.write(contentsOf: Data("!".utf8)); try handle.close()
        XCTAssertTrue(message { try m.verify(tf, folder: dir) }.contains("re-export"))
        XCTAssertTrue(message { _ = try Manifest.read(folder: dir) }.contains("sha256"))
    }

    func testFolderHashSortsPathsAsPython() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a"), withIntermediateDirectories: true)
        try Data("1".utf8).write(to: dir.appendingPathComponent("a/b"))
        try Data("2".utf8).write(to: dir.appendingPathComponent("a-c"))
        // Python sorts paths part by part: a/b before a-c (whereas as strings '-' < '/')
        let listing = "a/b\u{0}\(try fileSHA256(dir.appendingPathComponent("a/b")))\n"
            + "a-c\u{0}\(try fileSHA256(dir.appendingPathComponent("a-c")))\n"
        var h = PortableSHA256()
        h.update(data: Data(listing.utf8))
        XCTAssertEqual(try pathSHA256(dir), hex(h.finalize()))
        XCTAssertEqual(try pathBytes(dir), 2)
    }

    func testRefusesOtherSchemas() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("manifest.json")
        XCTAssertTrue(message { _ = try Manifest.read(folder: dir) }.contains("no manifest.json"))
        try Data("{\"schema_version\": 2}".utf8).write(to: path)
        XCTAssertTrue(message { _ = try Manifest.read(folder: dir) }.contains("schema version 2"))
        try Data("[1,".utf8).write(to: path)
        XCTAssertTrue(message { _ = try Manifest.read(folder: dir) }.contains("not a tokenreel export manifest"))
    }

    /// tests/golden/manifest-start-calls.json: what Python's check_manifest says of each geometry.start_calls.
    func testStartCallsAsPython() throws {
        let doc = try Golden.json("manifest-start-calls.json")
        let cases = try XCTUnwrap(doc["cases"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let extra = c["geometry_extra"]!.stringValue!
            let text = doc["manifest"]!.stringValue!.replacingOccurrences(of: "__START_CALLS__", with: extra)
            let error = c["error"]?.stringValue
            var m: Manifest?
            XCTAssertEqual(message { m = try Manifest.parse(Data(text.utf8)) }, error ?? "", extra)
            guard let m, error == nil else { continue }
            let want = c["start_calls"]?.objectValue
            XCTAssertEqual(m.geometry.startCalls?.encoderStep, want?["encoder_step"]?.intValue, extra)
            XCTAssertEqual(m.geometry.startCalls?.decoderStep, want?["decoder_step"]?.intValue, extra)
        }
    }

    func testRealExport() throws {
        let dir = try Golden.exportDir()
        let m = try Manifest.read(folder: dir, verify: true)   // every artifact's size and sha256, as Python wrote them
        XCTAssertTrue(m.artifacts.values.contains { $0.file.hasSuffix(".mlpackage") },
                      "no Core ML package: the folder hash is not exercised")
        let g = m.geometry
        let window = try XCTUnwrap(g.window), splits = try XCTUnwrap(g.splits), subBits = try XCTUnwrap(g.subBits)
        let tf = try m.find(role: "transformer", format: "onnx", precision: "fp32")
        XCTAssertEqual(tf.inputs[0].shape, [1, splits, window.reduce(1, *)])
        XCTAssertEqual(g.maskId, 1 << subBits)
        let encoder = try m.find(role: "encoder_step", format: "onnx", precision: "fp32")
        XCTAssertEqual(encoder.inputs[0].shape, [1, g.group, 3, g.frameSize[1], g.frameSize[0]])
        XCTAssertEqual(encoder.inputs.count - 1, encoder.state.count)
        XCTAssertEqual(m.sampler, samplerSpecVersion)
        XCTAssertEqual(Set(m.precisions(format: "coreml")), ["fp16", "fp32"])
    }
}

final class JSONTests: XCTestCase {
    func testParses() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2.5e3, true, false, null, "x\"\\\/\n\u00e9"], "b": {}, "c": [], "d": 1.0} "#)
        XCTAssertEqual(v["a"], .array([.int(1), .double(-2500), .bool(true), .bool(false), .null, .string("x\"\\/\né")]))
        XCTAssertEqual(v["b"], .object([:]))
        XCTAssertEqual(v["d"], .double(1.0))
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "[1] 2", "nul"] {
            XCTAssertThrowsError(try JSONValue.parse(bad), "accepted '\(bad)'")
        }
    }
}

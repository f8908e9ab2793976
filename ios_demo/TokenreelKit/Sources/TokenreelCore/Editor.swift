import Foundation

/// The models that encode, edit and render clips (tokenreel.Editor, docs/api.md): a tokenizer (video <-> tokens)
/// and a masked transformer (reframe, extend), given ready (the app loads them, as Python's `tokenizer=` and
/// `transformer=`); `zstd` reads and writes .trl chunks coded with Zstandard (Apple has none: without one, ans-wave).
/// A clip's reframe, extend and frames use the editor it was made or loaded with.
public final class Editor {
    public let tokenizer: any TokenizerBackend
    let transformerBackend: (any TransformerBackend)?
    public let zstd: (any ZstdDecoder & ZstdEncoder)?

    /// The header's `resize` for frames scaled to cover an export's fixed frame size (file_ops.open_source's text).
    public static let resizeCover = "scaled to cover, centre-cropped to the export's frame size"

    public init(tokenizer: any TokenizerBackend, transformer: (any TransformerBackend)? = nil,
                zstd: (any ZstdDecoder & ZstdEncoder)? = nil) {
        (self.tokenizer, self.transformerBackend, self.zstd) = (tokenizer, transformer, zstd)
    }

    public var transformer: any TransformerBackend {
        get throws {
            guard let transformerBackend else {
                throw TokenreelError("this editor has no transformer: give it one to reframe or extend")
            }
            return transformerBackend
        }
    }

    /// Encode frames from `next` (nil at the end) into a Clip, as `Editor.encode` a video: `fps` the source's rate,
    /// `sourceSize` its size before the frames were brought to the tokenizer's size by `resize` (the header's text
    /// for how). `keepSource`: hold the frames, so that the frames of the clip's edits keep the source's own pixels
    /// (Python reads the file again). `progress` gets the frames each encoder call took.
    public func encode(next: () throws -> Frame?, fps: Double, sourceSize: (width: Int, height: Int)? = nil,
                       resize: String = "none", name: String = "clip", keepSource: Bool = true,
                       progress: ((Int) -> Void)? = nil) throws -> Clip {
        var kept: [Frame] = []
        let encoded = try encodeFrames(tokenizer, next: {
            let frame = try next()
            if keepSource, let frame { kept.append(frame) }
            return frame
        }, progress: progress)
        guard let encoded else { throw TokenreelError("\(name): contains no decodable video frames") }
        let t = encoded.tokens, s = tokenizer.spatial
        func pair(_ w: Int, _ h: Int) -> JSONValue { .array([.int(Int64(w)), .int(Int64(h))]) }
        // the .trl header as file_ops.make_header builds it
        let header: [String: JSONValue] = [
            "tokenizer": .string(tokenizer.tokenizerId), "tokenizer_sha256": .string(tokenizer.tokenizerSHA256),
            "bits": .int(Int64(tokenizer.bits)), "fps": .double(fps), "frames": .int(Int64(encoded.frames)),
            "size": pair(t.w * s, t.h * s), "source_size": sourceSize.map { pair($0.width, $0.height) } ?? pair(t.w * s, t.h * s),
            "resize": .string(resize),
        ]
        return Clip(tokens: t, header: header, editor: self, name: name, source: keepSource ? kept : nil)
    }

    /// A .trl file as a Clip, checked against this editor's tokenizer (the weights that made it).
    public func load(_ url: URL) throws -> Clip {
        let clip = try Clip.load(url, editor: self)
        try checkTokenizer(clip)
        return clip
    }

    /// The clip holds this tokenizer's tokens (file_ops.check_tokenizer).
    func checkTokenizer(_ clip: Clip) throws {
        let sha = clip.header["tokenizer_sha256"]?.stringValue ?? ""
        if sha != tokenizer.tokenizerSHA256 || clip.header["bits"]?.intValue != tokenizer.bits {
            throw TokenreelError("\(clip.name): made by tokenizer \(clip.header["tokenizer"]?.stringValue ?? "?") "
                                 + "(\(sha.prefix(12))), not the loaded \(tokenizer.tokenizerId) "
                                 + "(\(tokenizer.tokenizerSHA256.prefix(12))); decode it with the weights that made it "
                                 + "or re-encode the source video")
        }
    }
}

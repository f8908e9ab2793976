package tokenreel.core

import java.io.File

/**
 * The models that encode, edit and render clips (tokenreel.Editor, docs/api.md): a tokenizer (video <-> tokens)
 * and a masked transformer (reframe, extend), given ready (the app loads them, as Python's `tokenizer=` and
 * `transformer=`); [zstd] reads and writes .trl chunks coded with Zstandard. A clip's reframe, extend and frames
 * use the editor it was made or loaded with.
 */
class Editor(val tokenizer: TokenizerBackend, private val transformerBackend: TransformerBackend? = null,
             val zstd: Zstd? = null) {
    val transformer: TransformerBackend
        get() = transformerBackend ?: throw TokenreelException("this editor has no transformer: give it one to reframe or extend")

    /**
     * Encode frames into a Clip, as `Editor.encode` a video: [fps] the source's rate, [sourceSize] (width, height)
     * before the frames were brought to the tokenizer's size by [resize] (the header's text for how). [keepSource]:
     * hold the frames, so that the frames of the clip's edits keep the source's own pixels (Python reads the file
     * again). [progress] gets the frames each encoder call took.
     */
    fun encode(frames: Iterator<Frame>, fps: Double, sourceSize: IntArray? = null, resize: String = "none",
               name: String = "clip", keepSource: Boolean = true, progress: ((Int) -> Unit)? = null): Clip {
        val kept = if (keepSource) ArrayList<Frame>() else null
        val counted = if (kept == null) frames else frames.asSequence().onEach { kept.add(it) }.iterator()
        val encoded = Codec.encodeFrames(tokenizer, counted, progress)
            ?: throw TokenreelException("$name: contains no decodable video frames")
        val t = encoded.tokens
        val size = listOf(t.w.toLong() * tokenizer.spatial, t.h.toLong() * tokenizer.spatial)
        // the .trl header as file_ops.make_header builds it
        val header = mapOf("tokenizer" to tokenizer.tokenizerId, "tokenizer_sha256" to tokenizer.tokenizerSha256,
            "bits" to tokenizer.bits.toLong(), "fps" to fps, "frames" to encoded.frames.toLong(), "size" to size,
            "source_size" to (sourceSize?.map { it.toLong() } ?: size), "resize" to resize)
        return Clip(t, header, this, name, source = kept)
    }

    /** A .trl file as a Clip, checked against this editor's tokenizer (the weights that made it). */
    fun load(file: File): Clip = Clip.load(file, this).also { checkTokenizer(it) }

    /** The clip holds this tokenizer's tokens (file_ops.check_tokenizer). */
    internal fun checkTokenizer(clip: Clip) {
        val sha = clip.header["tokenizer_sha256"] as? String ?: ""
        if (sha != tokenizer.tokenizerSha256 || (clip.header["bits"] as Number).toInt() != tokenizer.bits) {
            throw TokenreelException("${clip.name}: made by tokenizer ${clip.header["tokenizer"]} (${sha.take(12)}), not the " +
                "loaded ${tokenizer.tokenizerId} (${tokenizer.tokenizerSha256.take(12)}); decode it with the weights that " +
                "made it or re-encode the source video")
        }
    }

    companion object {
        /** The header's `resize` for frames scaled to cover an export's fixed frame size (file_ops.open_source's text). */
        const val RESIZE_COVER = "scaled to cover, centre-cropped to the export's frame size"
    }
}

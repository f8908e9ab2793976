package tokenreel.core

/** A step model's output and the state to pass to the next call. */
class StepOutput(val tensor: FloatTensor, val state: Any?)

/**
 * What the runtime asks of a tokenizer (tokenreel/runtime/backend.py). Frames are (F, 3, H, W) float32 in
 * [-1, 1]; latents (T', bits, H/8, W/8). State is opaque: null at the start of a video, then whatever the
 * backend returned last.
 */
interface TokenizerBackend {
    val tokenizerId: String
    val tokenizerSha256: String
    val bits: Int
    val spatial: Int          // pixels per token side
    val group: Int            // frames per latent frame after the first
    val latentsPerCall: Int
    /**
     * (width, height) of the frames an encoder exported for one frame size takes (an export's step models), null
     * for one that takes any size (backend.py's `frame_size`): a reframe's pixel draft tiles a larger canvas over it.
     */
    val frameSize: IntArray? get() = null

    /** First call: 1 + group*k frames; later calls: group*k frames. Returns the pre-quantization latent. */
    fun encodeStep(frames: FloatTensor, state: Any?): StepOutput

    /** +-1 latents -> frames; the first call's first latent frame gives 1 frame, every other one [group]. */
    fun decodeStep(latents: FloatTensor, state: Any?): StepOutput
}

/** An RGB frame, 8 bits per channel, row-major (H, W, 3), as the runtime's uint8 frames. */
class Frame(val width: Int, val height: Int, val rgb: ByteArray = ByteArray(width * height * 3)) {
    init { require(rgb.size == width * height * 3) { "frame ${width}x$height does not match ${rgb.size} bytes" } }
}

/** A token grid and the number of real frames it holds (the last group may be padding). */
class Encoded(val tokens: TokenGrid, val frames: Int)

/** Video <-> token grid through a tokenizer backend, one call at a time (tokenreel/runtime/tokenizing.py). */
object Codec {
    /** Frames -> (F, 3, H, W) float32 in [-1, 1], computed in float32 as numpy does. */
    fun toFloat(frames: List<Frame>): FloatTensor {
        val h = frames[0].height
        val w = frames[0].width
        val out = FloatTensor(intArrayOf(frames.size, 3, h, w))
        for ((f, frame) in frames.withIndex()) {
            require(frame.width == w && frame.height == h) { "frames of one video must have one size" }
            for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
                val v = frame.rgb[(y * w + x) * 3 + c].toInt() and 0xff
                out.data[((f * 3 + c) * h + y) * w + x] = v.toFloat() / 127.5f - 1f
            }
        }
        return out
    }

    /** (F, 3, H, W) float in [-1, 1] -> frames: clip(rint((v + 1) * 127.5), 0, 255). */
    fun toFrames(tensor: FloatTensor): List<Frame> {
        val (n, _, h, w) = tensor.shape.toList()
        return (0 until n).map { f ->
            val frame = Frame(w, h)
            for (c in 0 until 3) for (y in 0 until h) for (x in 0 until w) {
                val v = Math.rint(((tensor.data[((f * 3 + c) * h + y) * w + x] + 1f) * 127.5f).toDouble())
                frame.rgb[(y * w + x) * 3 + c] = Math.max(0.0, Math.min(255.0, v)).toInt().toByte()
            }
            frame
        }
    }

    /**
     * The frames of each encoder call: the first frame plus latentsPerCall-1 groups, then latentsPerCall
     * groups at a time; a short last call is padded by repeating its last frame up to whole groups.
     */
    fun frameGroups(frames: Iterator<Frame>, group: Int, perCall: Int): Sequence<List<Frame>> = sequence {
        var buf = ArrayList<Frame>()
        var first = true
        for (f in frames) {
            buf.add(f)
            val lead = if (first) 1 else 0
            if (buf.size == lead + group * (perCall - lead)) {
                yield(buf)
                buf = ArrayList()
                first = false
            }
        }
        if (buf.isNotEmpty()) {
            val lead = if (first) 1 else 0
            val pad = Math.floorMod(-(buf.size - lead), group)
            val last = buf[buf.size - 1]
            for (i in 0 until pad) buf.add(last)
            yield(buf)
        }
    }

    /** Frames -> tokens, or null when there were none. [progress] gets the frame count of each call. */
    fun encodeFrames(backend: TokenizerBackend, frames: Iterator<Frame>, progress: ((Int) -> Unit)? = null): Encoded? {
        var real = 0
        val counted = object : Iterator<Frame> {
            override fun hasNext() = frames.hasNext()
            override fun next(): Frame { real++; return frames.next() }
        }
        val grids = ArrayList<TokenGrid>()
        var state: Any? = null
        for (buf in frameGroups(counted, backend.group, backend.latentsPerCall)) {
            val out = backend.encodeStep(toFloat(buf), state)
            grids.add(Tokens.quantize(out.tensor))
            state = out.state
            progress?.invoke(buf.size)
        }
        if (grids.isEmpty()) return null
        return Encoded(TokenGrid.concat(grids), real)
    }

    /** Frames a grid of [latentFrames] decodes to, the last group's padding included. */
    fun paddedFrames(latentFrames: Int, group: Int): Int = 1 + group * (latentFrames - 1)

    /**
     * An extended grid's frames minus the source's padding: the encoder filled the source's last group by
     * repeating its last frame, so positions [real, padded) of the decoded stream are those repeats
     * (runtime/tokenizing.py `without_padding`).
     */
    fun <T> withoutPadding(frames: Sequence<T>, real: Int, padded: Int): Sequence<T> =
        frames.filterIndexed { i, _ -> i < real || i >= padded }

    /** Token positions around a held one that must repeat too (runtime/tokenizing.py `HOLD_RADIUS`). */
    const val HOLD_RADIUS = 1

    /**
     * (H', W') row-major: the positions of [tokens] (one latent frame, t = 1) whose token, and every token within
     * [radius], repeats [prevTokens]' (the previous latent frame); positions outside the grid count as repeated
     * (runtime/tokenizing.py `held_positions`). The decoder turns one latent frame into [TokenizerBackend.group]
     * frames that differ a little even when nothing moves; where the tokens held still, the pixels should too.
     */
    fun heldPositions(tokens: TokenGrid, prevTokens: TokenGrid, radius: Int = HOLD_RADIUS): BooleanArray {
        require(tokens.t == 1 && prevTokens.t == 1 && tokens.h == prevTokens.h && tokens.w == prevTokens.w) {
            "held positions compare two latent frames of one size, not $tokens and $prevTokens"
        }
        val (h, w) = tokens.h to tokens.w
        val held = BooleanArray(h * w) { true }
        for (y in 0 until h) for (x in 0 until w) {
            if (tokens.data[y * w + x] == prevTokens.data[y * w + x]) continue
            for (yy in Math.max(0, y - radius)..Math.min(h - 1, y + radius)) {
                for (xx in Math.max(0, x - radius)..Math.min(w - 1, x + radius)) held[yy * w + xx] = false
            }
        }
        return held
    }

    /** [frame] with the [spatial]-pixel blocks of the [held] token positions (of an h x w grid) taken from [last]. */
    private fun holdStill(frame: Frame, last: Frame, held: BooleanArray, h: Int, w: Int, spatial: Int): Frame {
        if (held.none { it }) return frame
        require(frame.height == h * spatial && frame.width == w * spatial && last.width == frame.width && last.height == frame.height) {
            "held blocks: frames of ${frame.width}x${frame.height} do not match a grid of $h x $w tokens"
        }
        val rgb = frame.rgb.copyOf()
        for (y in 0 until h) for (x in 0 until w) {
            if (!held[y * w + x]) continue
            for (dy in 0 until spatial) {
                val at = ((y * spatial + dy) * frame.width + x * spatial) * 3
                System.arraycopy(last.rgb, at, rgb, at, spatial * 3)
            }
        }
        return Frame(frame.width, frame.height, rgb)
    }

    /**
     * Tokens -> frames, streaming one decoder call at a time, stopping after [frames] real frames when given.
     *
     * [hold] ([heldPositions]): in the frames of a latent frame after the first, the pixel blocks whose tokens
     * repeat the previous latent frame's are the previous frame's, like a codec's skip blocks; false: the
     * decoder's own frames (runtime/tokenizing.py `decode_tokens`).
     */
    fun decodeTokens(backend: TokenizerBackend, tokens: TokenGrid, frames: Int? = null, hold: Boolean = true): Sequence<Frame> = sequence {
        var state: Any? = null
        var emitted = 0
        var last: Frame? = null
        val k = backend.latentsPerCall
        val group = backend.group
        var t = 0
        while (t < tokens.t) {
            val out = backend.decodeStep(Tokens.latentsOf(tokens, backend.bits, t, Math.min(t + k, tokens.t)), state)
            state = out.state
            for ((j, decoded) in toFrames(out.tensor).withIndex()) {
                if (frames != null && emitted >= frames) return@sequence
                // the first call's first latent frame gives 1 frame, every other one a group
                val latent = if (t == 0) (j + group - 1) / group else t + j / group
                val f = if (hold && latent > 0) {
                    val held = heldPositions(tokens.slice(latent, latent + 1), tokens.slice(latent - 1, latent))
                    holdStill(decoded, last!!, held, tokens.h, tokens.w, backend.spatial)
                } else decoded
                last = f
                emitted++
                yield(f)
            }
            t += k
        }
    }
}

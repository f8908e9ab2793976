package tokenreel.core

import java.io.File
import java.math.BigDecimal
import java.math.MathContext
import java.util.Locale

/**
 * A token clip (tokenreel.Clip, docs/api.md): a grid of tokens (T latent frames x H x W) and its .trl header.
 * Every operation returns a new clip and none decodes: [crop], [trim] and [cat] copy tokens and need no model,
 * [reframe] and [extend] run the [editor]'s transformer; [save] writes a .trl, [frames] decodes. [source]: the
 * frames an encoded clip was made from ([Editor.encode] keeps them), so that its edits' frames keep the source's
 * own pixels; a loaded or token-edited clip has none. The grid is shared, never changed.
 */
class Clip(val tokens: TokenGrid, header: Map<String, Any?>, val editor: Editor? = null, val name: String = "clip",
           private val source: List<Frame>? = null, val calls: Int = 0,
           private val plan: ((TokenizerBackend, Boolean) -> Sequence<Frame>)? = null) {
    /** The .trl header less what a file derives from its grid (api.FILE_FIELDS). */
    val header: Map<String, Any?> = header.filterKeys { it !in FILE_FIELDS }

    init {
        if (tokens.t == 0 || tokens.h == 0 || tokens.w == 0) {
            throw TokenreelException("$name: tokens must be a non-empty (T, H, W) grid, not (${tokens.t}, ${tokens.h}, ${tokens.w})")
        }
    }

    /** (T, H, W): latent frames, token rows, token columns. */
    val grid: List<Int> get() = listOf(tokens.t, tokens.h, tokens.w)
    val frameCount: Int get() = (header["frames"] as Number).toInt()
    val fps: Double get() = (header["fps"] as Number).toDouble()
    /** (width, height) in pixels. */
    val size: List<Int> get() = (header["size"] as List<*>).map { (it as Number).toInt() }
    val seconds: Double get() = frameCount / fps

    override fun toString() = "Clip($name: ${tokens.t}x${tokens.h}x${tokens.w} tokens, $frameCount frames at " +
        "${size[0]}x${size[1]}, ${g(fps)} fps)"

    /** A clip made from this one by the edit [what]: the same header but for the grid's size and [frames]. */
    private fun derived(edited: TokenGrid, what: String, frames: Int = frameCount, calls: Int = 0,
                        plan: ((TokenizerBackend, Boolean) -> Sequence<Frame>)? = null): Clip {
        val header = LinkedHashMap(header)
        header["size"] = listOf(edited.w.toLong() * PIXELS_PER_TOKEN, edited.h.toLong() * PIXELS_PER_TOKEN)
        header["frames"] = frames.toLong()
        return Clip(edited, header, editor, "$name, $what", calls = calls, plan = plan)
    }

    /** The editor that runs this clip's models, once it is known to hold its tokenizer's tokens. */
    private fun models(): Editor {
        val e = editor ?: throw TokenreelException("$name: no models to run; load the clip with Editor.load or give Clip.load an editor")
        e.checkTokenizer(this)
        return e
    }

    // ------------------------------------------------------------ no model

    /** Write a .trl atomically -> bytes written. [coder]: "zstd", "ans-ctx" or null (the smaller). */
    fun save(file: File, coder: String? = null): Long = Trl.write(file, tokens, header, coder, editor?.zstd)

    /**
     * Crop to a box in pixels (default: to the right and bottom edges), at token boundaries: each side is rounded
     * to the nearest multiple of [PIXELS_PER_TOKEN]. Lossless in token space.
     */
    fun crop(left: Int = 0, top: Int = 0, width: Int? = null, height: Int? = null): Clip {
        val (w, h) = size
        val boxW = width ?: w - left
        val boxH = height ?: h - top
        val x0 = nearest(left, PIXELS_PER_TOKEN)
        val y0 = nearest(top, PIXELS_PER_TOKEN)
        val x1 = nearest(left + boxW, PIXELS_PER_TOKEN)
        val y1 = nearest(top + boxH, PIXELS_PER_TOKEN)
        if (!(0 <= x0 && x0 < x1 && x1 <= tokens.w && 0 <= y0 && y0 < y1 && y1 <= tokens.h)) {
            throw TokenreelException("crop: the box ${boxW}x$boxH at ($left, $top) px is not inside the ${w}x$h px " +
                "frame, or narrower than a token ($PIXELS_PER_TOKEN px)")
        }
        return derived(tokens.slice(0, tokens.t, y0, y1, x0, x1), "cropped")
    }

    /**
     * Keep the part from [start] to [end] seconds (null: to the end), cut at latent-frame boundaries: from the
     * frame 4k nearest to [start] to after the frame 4k nearest to [end] (Clip.trim).
     */
    fun trim(start: Double = 0.0, end: Double? = null): Clip {
        val T = tokens.t
        val s = nearest(Math.rint(start * fps).toInt(), FRAMES_PER_LATENT)       // rint: Python's round()
        val e = if (end == null) T - 1 else Math.min(T - 1, nearest(Math.rint(end * fps).toInt() - 1, FRAMES_PER_LATENT))
        if (start < 0 || s > T - 1 || e < s) {
            throw TokenreelException("trim: ${g(start)} s to ${if (end == null) "the end" else "${g(end)} s"} keeps no latent " +
                "frame of the ${format("%.2f", seconds)} s clip (it cuts at every $FRAMES_PER_LATENT frames, " +
                "${format("%.3f", FRAMES_PER_LATENT / fps)} s)")
        }
        val frames = Math.max(1, Math.min(frameCount, FRAMES_PER_LATENT * e + 1) - FRAMES_PER_LATENT * s)
        return derived(tokens.slice(s, e + 1), "trimmed", frames)
    }

    /**
     * This clip, then [others], at latent-frame boundaries (no model); all of one tokenizer, size and fps. Each
     * later clip's first latent frame becomes a group of four, and an earlier clip's padding frames stay in.
     */
    fun cat(vararg others: Clip): Clip {
        for ((i, c) in others.withIndex()) {
            val checks = listOf(Triple("tokenizer", header["tokenizer_sha256"], c.header["tokenizer_sha256"]),
                Triple("bits", (header["bits"] as Number).toLong(), (c.header["bits"] as Number).toLong()),
                Triple("size", size.joinToString("x"), c.size.joinToString("x")))
            for ((what, mine, theirs) in checks) if (mine != theirs) {
                throw TokenreelException("cat: clip ${i + 2} (${c.name}) has $what $theirs, clip 1 ($name) $mine; " +
                    "concatenate clips of one tokenizer and size")
            }
            if (Math.abs(c.fps - fps) > 1e-6 * Math.max(Math.abs(c.fps), Math.abs(fps))) {     // math.isclose
                throw TokenreelException("cat: clip ${i + 2} (${c.name}) runs at ${g(c.fps)} fps, clip 1 ($name) at " +
                    "${g(fps)}; concatenate clips of one frame rate")
            }
        }
        val last = if (others.isEmpty()) this else others.last()
        val joined = TokenGrid.concat(listOf(tokens) + others.map { it.tokens })
        val padding = Codec.paddedFrames(last.tokens.t, FRAMES_PER_LATENT) - last.frameCount     // its repeated last frames
        return derived(joined, "joined", Codec.paddedFrames(joined.t, FRAMES_PER_LATENT) - padding)
    }

    // ------------------------------------------------------------ edits with the transformer

    /**
     * Change the aspect ratio W:H ("9:16") in token space. [fit] "outpaint": keep the whole picture and generate
     * the margins (the transformer; [progress] gets its calls; the revise sampler starts from [outpaintDraft]'s
     * draft); "crop": centre-crop (no model).
     */
    fun reframe(aspect: String, fit: String = "outpaint", seed: Long = 0, steps: Int? = null, sampler: String = "revise",
                progress: ((Int) -> Unit)? = null): Clip {
        Edit.parseAspect(aspect)
        if (fit !in FITS) throw TokenreelException("fit '$fit': choose one of ${FITS.joinToString(", ")}")
        if (fit == "crop") return derived(Edit.reframeCrop(tokens, aspect), "cropped to $aspect")
        Edit.checkSampler(sampler, steps)
        val e = models()
        val draft = if (sampler == "revise") outpaintDraft(e.tokenizer, aspect) else null
        val r = Edit.reframeOutpaint(e.transformer, tokens, aspect, steps, seed, progress, sampler, draft)
        return derived(r.tokens, "reframed $aspect", calls = r.calls,
            plan = { tokenizer, keepSource -> reframedVideo(tokenizer, r.tokens, if (keepSource) source else null) })
    }

    /**
     * The reframe's draft: this clip's pixels (the source's own, else decoded), edges replicated into the margins, and
     * encoded ([Edit.outpaintPixelDraft]); the source's tokens mirrored ([Edit.outpaintDraft]) where the clip is
     * smaller than an exported tokenizer's frame size and so cannot be decoded (api.py `Clip._outpaint_draft`).
     */
    private fun outpaintDraft(tokenizer: TokenizerBackend, aspect: String): TokenGrid {
        val fixed = tokenizer.frameSize
        if (fixed != null && (tokens.w * tokenizer.spatial < fixed[0] || tokens.h * tokenizer.spatial < fixed[1])) {
            return Edit.outpaintDraft(tokens, aspect)
        }
        val frames = source?.iterator() ?: Codec.decodeTokens(tokenizer, tokens, frameCount).iterator()
        return Edit.outpaintPixelDraft(tokenizer, frames, grid, aspect)
    }

    /** Continue the clip in time by [seconds] (or by [frames] frames) with the transformer. */
    fun extend(seconds: Double? = null, frames: Int? = null, seed: Long = 0, steps: Int? = null, sampler: String = "revise",
               progress: ((Int) -> Unit)? = null): Clip {
        if ((seconds == null) == (frames == null)) throw TokenreelException("extend: give seconds or frames (one of them)")
        val added = if (seconds == null) frames!! else {
            if (!(seconds > 0 && seconds <= Edit.MAX_EXTEND_FRAMES / fps)) {
                throw TokenreelException("extend: ${g(seconds)} s; choose more than 0 and at most ${g(Edit.MAX_EXTEND_FRAMES / fps)} s")
            }
            Math.max(1, Math.rint(seconds * fps).toInt())
        }
        Edit.checkSampler(sampler, steps)
        val e = models()
        val group = e.tokenizer.group
        val r = Edit.extend(e.transformer, tokens, added, steps, seed, group = group, progress = progress, sampler = sampler)
        val padded = Codec.paddedFrames(tokens.t, group)     // the source's frames, with its last group filled
        val total = padded + added
        val draft = Edit.extendDraft(tokens, added, group)
        return derived(r.tokens, "extended +$added frames", total, r.calls, plan = { tokenizer, keepSource ->
            extendedVideo(tokenizer, r.tokens, padded, total, if (keepSource) source else null, draft)
        })
    }

    // ------------------------------------------------------------ pixels

    /**
     * Decode: the clip's frames, one decoder call at a time. [keepSource]: where a reframe or extend of an encoded
     * clip kept the source, its own pixels (the generated part blended in) instead of decoded ones (Clip.frames).
     * Writing them to a video file is the app's (MediaCodec).
     */
    fun frames(keepSource: Boolean = true): Sequence<Frame> {
        val tokenizer = models().tokenizer
        return plan?.invoke(tokenizer, keepSource) ?: Codec.decodeTokens(tokenizer, tokens, frameCount)
    }

    /** A reframed canvas decoded, with [source] pasted in where this clip sits and feathered into the margins (file_ops.reframed_video). */
    private fun reframedVideo(tokenizer: TokenizerBackend, canvas: TokenGrid, source: List<Frame>?): Sequence<Frame> {
        val decoded = Codec.decodeTokens(tokenizer, canvas, frameCount)
        if (source == null) return decoded
        val s = tokenizer.spatial
        val y0 = (canvas.h - tokens.h) / 2 * s
        val x0 = (canvas.w - tokens.w) / 2 * s
        return Composite.reframedFrames(decoded, source.asSequence(), intArrayOf(y0, x0, y0 + tokens.h * s, x0 + tokens.w * s))
    }

    /**
     * An extended grid decoded (file_ops.extended_video): this clip's frames, then the generated ones (positions
     * [padded, total)); with [source], its own frames and then its last frame plus the model's change against [draft].
     */
    private fun extendedVideo(tokenizer: TokenizerBackend, grid: TokenGrid, padded: Int, total: Int, source: List<Frame>?,
                              draft: TokenGrid): Sequence<Frame> {
        if (source == null) return Codec.withoutPadding(Codec.decodeTokens(tokenizer, grid, total), frameCount, padded)
        // the change is taken between the decoder's own frames (no hold), as file_ops.extended_video does
        return Composite.extendedFrames(source.asSequence(), Codec.decodeTokens(tokenizer, grid, total, hold = false).drop(padded),
                                        Codec.decodeTokens(tokenizer, draft, total, hold = false).drop(padded))
    }

    companion object {
        const val PIXELS_PER_TOKEN = 8      // docs/trl-format.md: a header's size is (8 W, 8 H) for a grid (T, H, W)
        const val FRAMES_PER_LATENT = 4     // the first latent frame holds one frame, every later one the next four
        val FITS = listOf("outpaint", "crop")
        /** Header fields a .trl derives from its grid (what Trl.read adds), not kept with a clip; frames is the clip's. */
        private val FILE_FIELDS = Trl.FILE_FIELDS - "frames"

        /** Read a .trl into a Clip (no model). Edits and decoding use [editor]; see [Editor.load]. */
        fun load(file: File, editor: Editor? = null): Clip {
            val f = Trl.read(file, editor?.zstd)
            return Clip(f.tokens, f.header, editor, file.path)
        }

        /** The nearest multiple of [step], counted in steps; halves round up (api._nearest). */
        private fun nearest(value: Int, step: Int): Int = Math.floorDiv(2 * value + step, 2 * step)

        /** Python's format(x, "g") for the values messages show: 6 significant digits, no trailing zeros. */
        private fun g(x: Double): String =
            if (!x.isFinite()) x.toString() else BigDecimal(x).round(MathContext(6)).stripTrailingZeros().toPlainString()

        private fun format(pattern: String, x: Double) = String.format(Locale.ROOT, pattern, x)
    }
}

/** Concatenate clips at latent-frame boundaries (no model): tokenreel.cat; see [Clip.cat]. */
fun cat(vararg clips: Clip): Clip {
    if (clips.isEmpty()) throw TokenreelException("cat: give at least one clip")
    return clips[0].cat(*clips.copyOfRange(1, clips.size))
}

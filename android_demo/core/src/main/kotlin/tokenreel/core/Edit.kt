package tokenreel.core

/** What the edits ask of a transformer: logits for one window of sub-tokens (tokenreel/runtime/edit.py). */
interface TransformerBackend {
    /** (T, H, W) tokens per call. */
    val window: IntArray
    val bits: Int
    val splits: Int
    val subBits: Int
    val maskId: Int

    /** (splits, T*H*W) sub-tokens, row-major -> (splits, T*H*W, 2^subBits) float32 logits, row-major. */
    fun logits(subTokens: LongArray): FloatArray
}

/** A grid and the number of model calls it took. */
class EditResult(val tokens: TokenGrid, val calls: Int)

/**
 * Token-space edits, ported from tokenreel/runtime/edit.py: which windows, in what order, with which seeds,
 * what is known, the drafts and the sampler.
 *
 * Samplers: "revise" (the default, [Sampler.reviseDecode]) starts every window from a draft that is already
 * as good as the best trivial edit — the last known latent frame copied forward for extend, the source's
 * edge pixels replicated into the margins and encoded for reframe ([outpaintPixelDraft]; its tokens mirrored where
 * there are no pixels, [outpaintDraft]) — and lets the model re-predict only the drafted tokens it rates
 * unlikely; "maskgit" ([Sampler.maskgitDecode]) starts from all-[MASK].
 */
object Edit {
    const val MAX_EXTEND_FRAMES = 3000     // frames one extend may add (100 s at 30 fps)
    const val MAX_CANVAS_SIDE = 256        // tokens on a side of a reframed canvas
    val SAMPLERS = listOf("revise", "maskgit")
    /** revise: MaskGIT steps after the call that scores the draft. */
    val DEFAULT_STEPS = mapOf("revise" to 0, "maskgit" to 12)
    /**
     * Per edit: drafted tokens rated this far (nats, summed over sub-tokens) below the model's top choice are
     * redone. An extension's copied frames are worth keeping unless the model is sure, a reframe's mirrored
     * margins rarely are (edit.py's REVISE_THRESHOLD, chosen on validation clips).
     */
    val REVISE_THRESHOLD = mapOf("reframe" to 2.0, "extend" to 12.0)

    /** [steps], or the sampler's default when null (edit.py's `check_sampler`). */
    fun checkSampler(sampler: String, steps: Int?): Int {
        if (sampler !in SAMPLERS) throw TokenreelException("sampler '$sampler': choose one of ${SAMPLERS.joinToString(", ")}")
        val n = steps ?: DEFAULT_STEPS.getValue(sampler)
        val least = if (sampler == "revise") 0 else 1   // revise 0: the scoring call redoes the draft itself
        if (n < least) throw TokenreelException("steps $n: must be ${if (least == 0) "0 or more" else "at least 1"} for sampler $sampler")
        return n
    }

    fun parseAspect(text: String): IntArray {
        val parts = text.split(":")
        val w = parts.getOrNull(0)?.trim()?.toIntOrNull()
        val h = parts.getOrNull(1)?.trim()?.toIntOrNull()
        if (parts.size != 2 || w == null || h == null || w <= 0 || h <= 0) {
            throw TokenreelException("aspect '$text': give W:H with positive integers, e.g. 9:16")
        }
        return intArrayOf(w, h)
    }

    /** Python's round(): to the nearest integer, halves to even. */
    private fun pyRound(x: Double): Int = Math.rint(x).toInt()

    /** Start offsets of windows of [size] covering [0, length), evenly spaced, overlapping >= [minOverlap]. */
    fun tileStarts(length: Int, size: Int, minOverlap: Int = 4): IntArray {
        if (length <= size) return intArrayOf(0)
        require(size > minOverlap) { "a window of $size cannot overlap its neighbour by $minOverlap" }
        val n = Math.ceil((length - size).toDouble() / (size - minOverlap)).toInt() + 1
        return (0 until n).map { pyRound(it.toDouble() * (length - size) / (n - 1)) }.toSortedSet().toIntArray()
    }

    /** The filled window and the transformer calls it took. */
    class Filled(val tokens: IntArray, val calls: Int)

    /**
     * Fill the unknown tokens of one window (flattened, exactly the window's size). With a [draft] (same size)
     * the window is revised from it ([Sampler.reviseDecode], redoing the drafted tokens rated more than
     * [threshold] below the top; a draft needs one), else MaskGIT from masks.
     */
    fun fill(backend: TransformerBackend, tokens: IntArray, known: BooleanArray, steps: Int, seed: Long,
             progress: ((Int) -> Unit)? = null, draft: IntArray? = null, threshold: Double? = null): Filled {
        if (known.all { it }) return Filled(tokens, 0)
        var calls = 0
        val logits = { sub: LongArray -> calls++; backend.logits(sub) }
        val out = if (draft == null) {
            Sampler.maskgitDecode(logits, tokens, known, backend.splits, backend.subBits, backend.maskId, steps, seed,
                progress = progress)
        } else {
            val theta = threshold ?: throw IllegalArgumentException("a draft needs a threshold (REVISE_THRESHOLD)")
            Sampler.reviseDecode(logits, tokens, known, draft, backend.splits, backend.subBits, backend.maskId, steps,
                seed, theta, progress = progress)
        }
        return Filled(out, calls)
    }

    private fun knownCount(known: BooleanArray, grid: TokenGrid, t0: Int, t1: Int, y0: Int, y1: Int, x0: Int, x1: Int): Int {
        var count = 0
        for (t in t0 until t1) for (y in y0 until y1) for (x in x0 until x1) if (known[grid.index(t, y, x)]) count++
        return count
    }

    /**
     * Fill every unknown token of a canvas of any size with windows of the backend's size. Time windows in
     * order (each later one keeps its first latent frames from the previous one); within a time span the
     * windows with the most known tokens first (ties by (row, column)). [draft]: a draft for every position
     * (the revise sampler, with [threshold] as in [fill]), or null (MaskGIT). The calls counted are the
     * transformer calls made.
     */
    fun fillCanvas(backend: TransformerBackend, canvas: TokenGrid, knownIn: BooleanArray, steps: Int, seed: Long,
                   progress: ((Int) -> Unit)? = null, draft: TokenGrid? = null, threshold: Double? = null): EditResult {
        val (wt, wh, ww) = backend.window.toList()
        val T = canvas.t
        val H = canvas.h
        val W = canvas.w
        if (H < wh || W < ww || T < 1) {
            throw TokenreelException("the token grid ${T}x${H}x$W is smaller than the model's window ${wt}x${wh}x$ww; " +
                "encode at a larger size")
        }
        val out = TokenGrid(T, H, W, canvas.data.copyOf())
        val known = knownIn.copyOf()
        var calls = 0
        val timeStarts = if (T >= wt) tileStarts(T, wt, minOverlap = 1) else intArrayOf(0)
        for ((wIndex, t0) in timeStarts.withIndex()) {
            val t1 = Math.min(t0 + wt, T)
            val remaining = ArrayList<IntArray>()
            for (y0 in tileStarts(H, wh)) for (x0 in tileStarts(W, ww)) remaining.add(intArrayOf(y0, x0))
            // (y0, x0) order: the first of equals wins below, as max()/min() over sorted() in Python
            remaining.sortWith(Comparator { a, b -> if (a[0] != b[0]) a[0] - b[0] else a[1] - b[1] })
            while (remaining.isNotEmpty()) {
                var best = 0
                var bestCount = -1
                for ((i, yx) in remaining.withIndex()) {
                    val c = knownCount(known, out, t0, t1, yx[0], yx[0] + wh, yx[1], yx[1] + ww)
                    if (c > bestCount) { bestCount = c; best = i }
                }
                val (y0, x0) = remaining.removeAt(best).toList()
                // the window, padded in time with unknown frames when the video is shorter than the window;
                // its draft: the canvas where known (source, earlier windows), the draft elsewhere, and the
                // padding drafted as the last frame, copied
                val plane = wh * ww
                val win = IntArray(wt * plane)
                val kn = BooleanArray(wt * plane)
                val dr = if (draft == null) null else IntArray(wt * plane)
                for (t in t0 until t1) for (y in 0 until wh) for (x in 0 until ww) {
                    val src = out.index(t, y0 + y, x0 + x)
                    val dst = ((t - t0) * wh + y) * ww + x
                    win[dst] = out.data[src]
                    kn[dst] = known[src]
                    if (dr != null) dr[dst] = if (known[src]) out.data[src] else draft!!.data[src]
                }
                if (dr != null) for (t in t1 - t0 until wt) System.arraycopy(dr, (t1 - t0 - 1) * plane, dr, t * plane, plane)
                if (!kn.all { it }) {
                    val windowSeed = seed * 1000003 + wIndex * 4099L + y0 * 131L + x0
                    val filled = fill(backend, win, kn, steps, windowSeed, progress, dr, threshold)
                    val deferred = deferred(y0, x0, H, W, wh, ww, remaining)
                    for (t in t0 until t1) for (y in 0 until wh) for (x in 0 until ww) {
                        if (deferred[y * ww + x]) continue
                        val dst = out.index(t, y0 + y, x0 + x)
                        out.data[dst] = filled.tokens[((t - t0) * wh + y) * ww + x]
                        known[dst] = true
                    }
                    calls += filled.calls
                }
            }
        }
        return EditResult(out, calls)
    }

    /** Generated tokens this close to a window's inner side wait for a later window (runtime/edit.py EDGE). */
    const val EDGE = 2

    /**
     * (wh * ww) flags: the positions of window (y0, x0) within [EDGE] of a side that faces more canvas and that
     * one of the [later] windows covers; they are left for that window, which sees them with context all round.
     */
    fun deferred(y0: Int, x0: Int, H: Int, W: Int, wh: Int, ww: Int, later: List<IntArray>): BooleanArray {
        val out = BooleanArray(wh * ww)
        for (y in 0 until wh) for (x in 0 until ww) {
            val edge = (y0 > 0 && y < EDGE) || (y0 + wh < H && y >= wh - EDGE) ||
                (x0 > 0 && x < EDGE) || (x0 + ww < W && x >= ww - EDGE)
            if (!edge) continue
            val cy = y0 + y
            val cx = x0 + x
            out[y * ww + x] = later.any { cy >= it[0] && cy < it[0] + wh && cx >= it[1] && cx < it[1] + ww }
        }
        return out
    }

    /** Centre-crop the token grid to the aspect W:H (no model): lossless in token space. */
    fun reframeCrop(tokens: TokenGrid, aspect: String): TokenGrid {
        val (aw, ah) = parseAspect(aspect).toList()
        val newW: Int
        val newH: Int
        if (tokens.w.toLong() * ah > tokens.h.toLong() * aw) {   // too wide: keep the height
            newW = Math.max(1, pyRound(tokens.h.toDouble() * aw / ah)); newH = tokens.h
        } else {
            newW = tokens.w; newH = Math.max(1, pyRound(tokens.w.toDouble() * ah / aw))
        }
        val y0 = (tokens.h - newH) / 2
        val x0 = (tokens.w - newW) / 2
        return tokens.slice(0, tokens.t, y0, y0 + newH, x0, x0 + newW)
    }

    /** A canvas and which of its tokens are known. */
    class Canvas(val tokens: TokenGrid, val known: BooleanArray)

    /** Place [tokens] in the middle of a [h] x [w] canvas at (y0, x0); everything else unknown. */
    private fun place(tokens: TokenGrid, h: Int, w: Int, y0: Int, x0: Int): Canvas {
        val canvas = TokenGrid(tokens.t, h, w)
        val known = BooleanArray(canvas.size)
        for (t in 0 until tokens.t) for (y in 0 until tokens.h) for (x in 0 until tokens.w) {
            canvas[t, y0 + y, x0 + x] = tokens[t, y, x]
            known[canvas.index(t, y0 + y, x0 + x)] = true
        }
        return Canvas(canvas, known)
    }

    /**
     * (canvas height, canvas width, y0, x0) in tokens: the smallest canvas of aspect W:H that holds a source of
     * [height] x [width] whole, the source in its middle at (y0, x0).
     */
    fun outpaintBox(height: Int, width: Int, aspect: String): IntArray {
        val (aw, ah) = parseAspect(aspect).toList()
        val newW: Int
        val newH: Int
        if (width.toLong() * ah > height.toLong() * aw) {   // source wider than the target: grow the height
            newW = width; newH = pyRound(width.toDouble() * ah / aw)
        } else {
            newW = pyRound(height.toDouble() * aw / ah); newH = height
        }
        if (Math.max(newW, newH) > MAX_CANVAS_SIDE) {
            throw TokenreelException("aspect $aspect: the canvas would be ${newW}x$newH tokens, over the " +
                "$MAX_CANVAS_SIDE limit; choose an aspect closer to the source's")
        }
        return intArrayOf(newH, newW, (newH - height) / 2, (newW - width) / 2)
    }

    /** The source in the middle of the smallest canvas of aspect W:H that holds it whole. */
    fun outpaintCanvas(tokens: TokenGrid, aspect: String): Canvas {
        val (newH, newW, y0, x0) = outpaintBox(tokens.h, tokens.w, aspect).toList()
        return place(tokens, newH, newW, y0, x0)
    }

    /** Source token rows/columns along a generated margin that are generated again (runtime/edit.py). */
    const val SOURCE_EDGE = 1

    /**
     * [known] (t, h, w) less the source's outermost [SOURCE_EDGE] rows and columns along a generated margin: the
     * encoder saw zero padding past the frame's border, so those tokens decode to a seam next to real
     * surroundings; the model generates them again with context on both sides.
     */
    fun sourceEdgesRegenerated(known: BooleanArray, t: Int, h: Int, w: Int): BooleanArray {
        val out = known.copyOf()
        val rowKnown = BooleanArray(h)
        val colKnown = BooleanArray(w)
        for (tt in 0 until t) for (y in 0 until h) for (x in 0 until w) {
            if (known[(tt * h + y) * w + x]) { rowKnown[y] = true; colKnown[x] = true }
        }
        val rows = rowKnown.indices.filter { rowKnown[it] }
        val cols = colKnown.indices.filter { colKnown[it] }
        if (rows.isEmpty()) return out
        val cutRows = HashSet<Int>()
        val cutCols = HashSet<Int>()
        if (rows.first() > 0) cutRows.addAll(rows.first() until Math.min(h, rows.first() + SOURCE_EDGE))
        if (rows.last() < h - 1) cutRows.addAll(Math.max(0, rows.last() + 1 - SOURCE_EDGE)..rows.last())
        if (cols.first() > 0) cutCols.addAll(cols.first() until Math.min(w, cols.first() + SOURCE_EDGE))
        if (cols.last() < w - 1) cutCols.addAll(Math.max(0, cols.last() + 1 - SOURCE_EDGE)..cols.last())
        for (tt in 0 until t) for (y in 0 until h) for (x in 0 until w) {
            if (y in cutRows || x in cutCols) out[(tt * h + y) * w + x] = false
        }
        return out
    }

    /**
     * The source (t, h, w) placed at ([y0], [x0]) of a [canvasH] x [canvasW] canvas and mirrored into the margins
     * around it: numpy's pad(mode="symmetric"), the edge row repeated once and then the reflection continuing;
     * where a margin is wider than the source the reflections repeat (period 2 * side).
     */
    fun mirrorDraft(canvasH: Int, canvasW: Int, tokens: TokenGrid, y0: Int, x0: Int): TokenGrid {
        val out = TokenGrid(tokens.t, canvasH, canvasW)
        val ys = IntArray(canvasH) { mirror(it - y0, tokens.h) }
        val xs = IntArray(canvasW) { mirror(it - x0, tokens.w) }
        for (t in 0 until tokens.t) for (y in 0 until canvasH) for (x in 0 until canvasW) out[t, y, x] = tokens[t, ys[y], xs[x]]
        return out
    }

    /** np.pad(mode="symmetric") as an index: position [p] relative to a side's start -> an index into its [n]. */
    private fun mirror(p: Int, n: Int): Int {
        val m = ((p % (2 * n)) + 2 * n) % (2 * n)
        return if (m < n) m else 2 * n - 1 - m
    }

    /**
     * The revise sampler's draft of a reframed canvas in token space (before any padding to the window): the
     * source's tokens mirrored into the margins (for a clip with no pixels to draft from: [outpaintPixelDraft]
     * is the better draft).
     */
    fun outpaintDraft(tokens: TokenGrid, aspect: String): TokenGrid {
        val c = outpaintCanvas(tokens, aspect).tokens
        return mirrorDraft(c.h, c.w, tokens, (c.h - tokens.h) / 2, (c.w - tokens.w) / 2)
    }

    /**
     * The revise sampler's draft of a reframed canvas from pixels -> (T, canvas H, canvas W) tokens: the clip's
     * [frames] ([grid] (T, H, W) tokens' worth) with their edge pixels replicated into the margins (np.pad(mode="edge")
     * around the source's place) and the canvas encoded ([Codec.encodeFrames]). Tokens copied are not pictures
     * continued (a source's edge tokens describe the frame's border); replicated, not mirrored: a mirror copies the
     * clip's objects into the margins. An encoder exported for one frame size
     * ([TokenizerBackend.frameSize]) runs over tiles of it ([TiledEncoder]); a canvas smaller than that size is
     * drafted larger, then cut (edit.py `outpaint_pixel_draft`).
     */
    fun outpaintPixelDraft(tokenizer: TokenizerBackend, frames: Iterator<Frame>, grid: List<Int>, aspect: String): TokenGrid {
        val (T, H, W) = grid
        val (newH, newW, y0, x0) = outpaintBox(H, W, aspect).toList()
        val fixed = tokenizer.frameSize
        val s = tokenizer.spatial
        // tiles of the clip's own size on every backend (an export's frame size where it differs), as Python's
        // outpaint_pixel_draft: the server and the exports draft alike
        val tileH = if (fixed != null) fixed[1] / s else H
        val tileW = if (fixed != null) fixed[0] / s else W
        val encoder = TiledEncoder(tokenizer, tileH, tileW)
        val growH = Math.max(0, tileH - newH)
        val growW = Math.max(0, tileW - newW)
        val top = (y0 + growH / 2) * s
        val left = (x0 + growW / 2) * s
        val bottom = (newH + growH - y0 - growH / 2 - H) * s
        val right = (newW + growW - x0 - growW / 2 - W) * s
        val replicated = frames.asSequence().map { f ->
            val outW = left + f.width + right
            val ys = IntArray(top + f.height + bottom) { (it - top).coerceIn(0, f.height - 1) }
            val xs = IntArray(outW) { (it - left).coerceIn(0, f.width - 1) }
            val out = Frame(outW, ys.size)
            for ((y, sy) in ys.withIndex()) for ((x, sx) in xs.withIndex()) {
                System.arraycopy(f.rgb, (sy * f.width + sx) * 3, out.rgb, (y * outW + x) * 3, 3)
            }
            out
        }
        val encoded = Codec.encodeFrames(encoder, replicated.iterator())
        require(encoded != null && encoded.tokens.t == T) {
            "outpaintPixelDraft: the frames give ${encoded?.tokens?.t ?: 0} latent frames, the clip has $T"
        }
        return encoded!!.tokens.slice(0, T, growH / 2, growH / 2 + newH, growW / 2, growW / 2 + newW)
    }

    /**
     * Reframe by generating the margins of the new aspect ratio ([sampler] "revise" from a draft, or "maskgit";
     * [steps] null: the sampler's default) -> the canvas and the transformer calls made. [draft]: the revise
     * sampler's draft of the whole canvas ([outpaintPixelDraft]); null: [outpaintDraft].
     */
    fun reframeOutpaint(backend: TransformerBackend, tokens: TokenGrid, aspect: String, steps: Int? = null, seed: Long = 0,
                        progress: ((Int) -> Unit)? = null, sampler: String = "revise", draft: TokenGrid? = null): EditResult {
        val n = checkSampler(sampler, steps)
        val placed = outpaintCanvas(tokens, aspect)
        val canvas = Canvas(placed.tokens, sourceEdgesRegenerated(placed.known, placed.tokens.t, placed.tokens.h, placed.tokens.w))
        require(draft == null || (draft.t == placed.tokens.t && draft.h == placed.tokens.h && draft.w == placed.tokens.w)) {
            "reframeOutpaint: a draft of ${draft!!.t}x${draft.h}x${draft.w} for a canvas of " +
                "${placed.tokens.t}x${placed.tokens.h}x${placed.tokens.w}"
        }
        val (_, wh, ww) = backend.window.toList()
        // grow the canvas to at least one window, keeping the source centred, then cut back
        val h = canvas.tokens.h
        val w = canvas.tokens.w
        val ph = Math.max(0, wh - h)
        val pw = Math.max(0, ww - w)
        val padded = TokenGrid(canvas.tokens.t, h + ph, w + pw)
        val known = BooleanArray(padded.size)
        for (t in 0 until padded.t) for (y in 0 until h) for (x in 0 until w) {
            val dst = padded.index(t, y + ph / 2, x + pw / 2)
            padded.data[dst] = canvas.tokens[t, y, x]
            known[dst] = canvas.known[canvas.tokens.index(t, y, x)]
        }
        // a given draft padded symmetric as the canvas; else the source mirrored from where outpaintCanvas put it,
        // moved by the padding
        val windowDraft = if (sampler != "revise") null
            else if (draft != null) mirrorDraft(padded.h, padded.w, draft, ph / 2, pw / 2)
            else mirrorDraft(padded.h, padded.w, tokens, (h - tokens.h) / 2 + ph / 2, (w - tokens.w) / 2 + pw / 2)
        val filled = fillCanvas(backend, padded, known, n, seed, progress, windowDraft, REVISE_THRESHOLD.getValue("reframe"))
        return EditResult(filled.tokens.slice(0, filled.tokens.t, ph / 2, ph / 2 + h, pw / 2, pw / 2 + w), filled.calls)
    }

    fun latentFramesFor(frames: Int, group: Int = 4) = (frames + group - 1) / group

    /** Transformer calls one window takes at most: revise scores the draft once, then runs up to [steps] steps. */
    private fun callsPerWindow(sampler: String, steps: Int?): Int = checkSampler(sampler, steps) + if (sampler == "revise") 1 else 0

    /** How many transformer calls an edit will make at most (for a progress bar): per window that has unknowns. */
    fun reframeCalls(window: IntArray, tokens: TokenGrid, aspect: String, steps: Int? = null, sampler: String = "revise"): Int {
        val c = outpaintCanvas(tokens, aspect).tokens
        val h = Math.max(c.h, window[1])
        val w = Math.max(c.w, window[2])
        val times = if (c.t >= window[0]) tileStarts(c.t, window[0], 1).size else 1
        return times * tileStarts(h, window[1]).size * tileStarts(w, window[2]).size * callsPerWindow(sampler, steps)
    }

    /** The revise sampler's first draft of an extension: [tokens], then their last latent frame copied forward. */
    fun extendDraft(tokens: TokenGrid, frames: Int, group: Int = 4): TokenGrid {
        val added = latentFramesFor(frames, group)
        val plane = tokens.h * tokens.w
        val out = TokenGrid(tokens.t + added, tokens.h, tokens.w)
        System.arraycopy(tokens.data, 0, out.data, 0, tokens.size)
        for (t in tokens.t until out.t) System.arraycopy(tokens.data, (tokens.t - 1) * plane, out.data, t * plane, plane)
        return out
    }

    /**
     * Append latent frames covering [frames] more video frames after the end of [tokens]. Each window keeps
     * the last [context] latent frames known and generates the rest; the window slides until the length is
     * reached. The revise sampler drafts each window's new frames as its last known latent frame, copied forward.
     */
    fun extend(backend: TransformerBackend, tokens: TokenGrid, frames: Int, steps: Int? = null, seed: Long = 0,
               context: Int = 2, group: Int = 4, progress: ((Int) -> Unit)? = null, sampler: String = "revise"): EditResult {
        val n = checkSampler(sampler, steps)
        if (frames <= 0 || frames > MAX_EXTEND_FRAMES) {
            throw TokenreelException("frames $frames: extend by 1 to $MAX_EXTEND_FRAMES frames")
        }
        val wt = backend.window[0]
        if (context < 1 || context >= wt) throw TokenreelException("context $context: must be between 1 and ${wt - 1} latent frames")
        val added = latentFramesFor(frames, group)
        val T = tokens.t
        val H = tokens.h
        val W = tokens.w
        if (T < context) throw TokenreelException("the video has $T latent frames; extending needs at least $context")
        val grid = TokenGrid(T + added, H, W)
        System.arraycopy(tokens.data, 0, grid.data, 0, tokens.size)
        val known = BooleanArray(grid.size)
        java.util.Arrays.fill(known, 0, tokens.size, true)
        val plane = H * W
        var calls = 0
        var t = T
        while (t < T + added) {
            val t0 = t - context
            val span = Math.min(wt, T + added - t0)
            val sub = TokenGrid(wt, H, W)
            val subKnown = BooleanArray(sub.size)
            System.arraycopy(grid.data, t0 * plane, sub.data, 0, span * plane)
            System.arraycopy(known, t0 * plane, subKnown, 0, span * plane)
            var draft: TokenGrid? = null
            if (sampler == "revise") {   // the context frames, then the last known frame (t - 1) copied forward
                draft = TokenGrid(wt, H, W, sub.data.copyOf())
                for (k in context until wt) System.arraycopy(grid.data, (t - 1) * plane, draft.data, k * plane, plane)
            }
            val out = fillCanvas(backend, sub, subKnown, n, seed + 7919L * t, progress, draft,
                REVISE_THRESHOLD.getValue("extend"))
            System.arraycopy(out.tokens.data, 0, grid.data, t0 * plane, span * plane)
            java.util.Arrays.fill(known, t0 * plane, (t0 + span) * plane, true)
            calls += out.calls
            t = t0 + span
        }
        return EditResult(grid, calls)
    }

    /** Transformer calls [extend] makes at most (for a progress bar). */
    fun extendCalls(window: IntArray, tokens: TokenGrid, frames: Int, steps: Int? = null, context: Int = 2, group: Int = 4,
                    sampler: String = "revise"): Int {
        val added = latentFramesFor(frames, group)
        var windows = 0
        var t = tokens.t
        while (t < tokens.t + added) {
            val t0 = t - context
            windows++
            t = t0 + Math.min(window[0], tokens.t + added - t0)
        }
        return windows * tileStarts(tokens.h, window[1]).size * tileStarts(tokens.w, window[2]).size *
            callsPerWindow(sampler, steps)
    }
}

package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The Python runtime's reframe and extend on a fake transformer (integer logits / 8, exact in float32),
 * written by tests/test_android_core.py: the same windows in the same order with the same seeds give the
 * same grid.
 */
class FakeTransformer(override val window: IntArray, override val bits: Int, override val splits: Int,
                      override val subBits: Int) : TransformerBackend {
    override val maskId = 1 shl subBits
    var calls = 0

    /** logits[j][n][v] = ((n*131 + v*71 + j*37 + sub[j][n]*13 + sub[j][(n+1) % N]*7) % 97) / 8 - 6 */
    override fun logits(subTokens: LongArray): FloatArray {
        calls++
        val n = subTokens.size / splits
        val v = 1 shl subBits
        val out = FloatArray(splits * n * v)
        for (j in 0 until splits) for (k in 0 until n) for (c in 0 until v) {
            val z = k * 131L + c * 71L + j * 37L + subTokens[j * n + k] * 13 + subTokens[j * n + (k + 1) % n] * 7
            out[(j * n + k) * v + c] = (z % 97 / 8.0 - 6.0).toFloat()
        }
        return out
    }
}

/**
 * tests/edit_cases.py's fake_encoder_step: channel c of a latent position is the sum of its 2x2 pixel block's
 * channel c over the frames, as the integers they came from (rint((x + 1) * 127.5)), less 127.5 a value, plus
 * ((3y + 5x + c + calls) % 7 - 3) * 16 by its place in the frames given and the calls before (the state).
 */
fun fakeEncoderStep(frames: FloatTensor, state: Any?): StepOutput {
    val calls = state as Int? ?: 0
    val (f, c, ph, pw) = frames.shape.toList()
    val h = ph / 2
    val w = pw / 2
    val out = FloatTensor(intArrayOf(1, c, h, w))
    for (ch in 0 until c) for (y in 0 until h) for (x in 0 until w) {
        var sum = 0f
        for (k in 0 until f) for (dy in 0 until 2) for (dx in 0 until 2) {
            val v = frames.data[((k * c + ch) * ph + 2 * y + dy) * pw + 2 * x + dx]
            sum += Math.rint(((v + 1f) * 127.5f).toDouble()).toFloat()
        }
        out.data[(ch * h + y) * w + x] = sum - 127.5f * (f * 4) + (Math.floorMod(3 * y + 5 * x + ch + calls, 7) - 3) * 16
    }
    return StepOutput(out, calls + 1)
}

/**
 * tests/edit_cases.py's fake_decoder_step: each latent position becomes a 2x2 block of the latent channels' weighted
 * sum, plus terms of the channel and the pixel's place, less 0.5 per earlier call (the state).
 */
fun fakeDecoderStep(latents: FloatTensor, state: Any?): StepOutput {
    val calls = state as Int? ?: 0
    val (t, d, h, w) = latents.shape.toList()
    val out = FloatTensor(intArrayOf(t, 3, 2 * h, 2 * w))
    for (k in 0 until t) for (ch in 0 until 3) for (y in 0 until 2 * h) for (x in 0 until 2 * w) {
        var base = 0f
        for (i in 0 until d) base += latents.data[((k * d + i) * h + y / 2) * w + x / 2] * (i + 1)
        out.data[((k * 3 + ch) * 2 * h + y) * 2 * w + x] = base + ch * 0.25f + y * 0.125f + x * 0.0625f - calls * 0.5f
    }
    return StepOutput(out, calls + 1)
}

/**
 * tests/edit_cases.py's FakeTokenizer with its decoder, for the hold: [fakeDecoderStep]'s frames / 8, each latent
 * frame's given to its frames (the first call's first latent frame 1, every other one a group), plus 3k/128
 * by the frame's place k in the call.
 */
class HoldTokenizer(override val latentsPerCall: Int) : TokenizerBackend {
    override val tokenizerId = "hold"
    override val tokenizerSha256 = "02"
    override val bits = 3
    override val spatial = 2
    override val group = 4

    override fun encodeStep(frames: FloatTensor, state: Any?) = fakeEncoderStep(frames, state)

    override fun decodeStep(latents: FloatTensor, state: Any?): StepOutput {
        val first = state == null
        val step = fakeDecoderStep(latents, state)
        val (t, _, ph, pw) = step.tensor.shape.toList()
        val n = if (first) 1 + (t - 1) * group else t * group
        val size = 3 * ph * pw
        val out = FloatTensor(intArrayOf(n, 3, ph, pw))
        for (k in 0 until n) {
            val latent = if (first) (k + group - 1) / group else k / group
            for (i in 0 until size) out.data[k * size + i] = step.tensor.data[latent * size + i] * (1f / 8) + k * (3f / 128)
        }
        return StepOutput(out, step.state)
    }
}

/**
 * tests/edit_cases.py's FakeTokenizer: [fakeEncoderStep], 3 bits, 2 pixels a token; [frameSize] (width, height): an
 * encoder exported for that size (it refuses others). Its decoder (not Python's: for Clip tests) gives each pixel
 * the channels of the token to its right, halved, plus a term by place, so that decoded frames differ from the
 * source's and replicating them differs from mirroring tokens.
 */
class DraftTokenizer(override val frameSize: IntArray? = null) : TokenizerBackend {
    override val tokenizerId = "draft"
    override val tokenizerSha256 = "01"
    override val bits = 3
    override val spatial = 2
    override val group = 4
    override val latentsPerCall = 1

    override fun encodeStep(frames: FloatTensor, state: Any?): StepOutput {
        val size = frameSize
        if (size != null && (frames.shape[3] != size[0] || frames.shape[2] != size[1])) {
            throw TokenreelException("frames of ${frames.shape[3]}x${frames.shape[2]}, the encoder takes ${size[0]}x${size[1]}")
        }
        return fakeEncoderStep(frames, state)
    }

    override fun decodeStep(latents: FloatTensor, state: Any?): StepOutput {
        val (t, d, h, w) = latents.shape.toList()
        val n = if (state == null) 1 + (t - 1) * group else t * group
        val out = FloatTensor(intArrayOf(n, 3, 2 * h, 2 * w))
        for (k in 0 until n) for (c in 0 until 3) for (y in 0 until 2 * h) for (x in 0 until 2 * w) {
            val right = Math.min(w - 1, x / 2 + 1)     // the token to the right: decoding is not local to a token
            val latent = latents.data[(((if (state == null) 0 else k / group) * d + c % d) * h + y / 2) * w + right]
            out.data[((k * 3 + c) * 2 * h + y) * 2 * w + x] = latent * 0.5f + ((y + 2 * x + k) % 5 - 2) * 0.2f
        }
        return StepOutput(out, "decoding")
    }
}

class EditGoldenTest {
    private val cases = Golden.json(Golden.editCases()) as Map<*, *>

    private fun grid(value: Any?): TokenGrid {
        val m = value as Map<*, *>
        val (t, h, w) = m.ints("shape").toList()
        return TokenGrid(t, h, w, m.ints("data"))
    }

    /** {"shape", "bits"}: float32 values by their bit patterns. */
    private fun floats(value: Any?): FloatTensor {
        val m = value as Map<*, *>
        return FloatTensor(m.ints("shape"), m.list("bits").map { java.lang.Float.intBitsToFloat((it as Number).toLong().toInt()) }.toFloatArray())
    }

    /** {"shape": (F, H, W, 3), "data": bytes} -> frames. */
    private fun frames(value: Any?): List<Frame> {
        val m = value as Map<*, *>
        val (f, h, w) = m.ints("shape").toList()
        val data = m.ints("data")
        return (0 until f).map { k -> Frame(w, h, ByteArray(h * w * 3) { data[k * h * w * 3 + it].toByte() }) }
    }

    private fun assertBits(what: String, want: FloatTensor, got: FloatTensor) {
        assertArrayEquals(what, want.shape, got.shape)
        val differ = want.data.indices.count { java.lang.Float.floatToRawIntBits(want.data[it]) != java.lang.Float.floatToRawIntBits(got.data[it]) }
        assertEquals("$what: values differ", 0, differ)
    }

    /** A case's steps: null for the sampler's default. */
    private fun steps(m: Map<*, *>): Int? = (m["steps"] as Number?)?.toInt()

    private fun backend(): FakeTransformer {
        val b = cases.obj("backend")
        return FakeTransformer(b.ints("window"), b.int("bits"), b.int("splits"), b.int("sub_bits"))
    }

    @Test fun tileStarts() {
        for (c in cases.list("tile_starts")) {
            val m = c as Map<*, *>
            assertArrayEquals(m.toString(), m.ints("starts"), Edit.tileStarts(m.int("length"), m.int("size"), m.int("min_overlap")))
        }
    }

    @Test fun cropAndCanvas() {
        for (c in cases.list("crop")) {
            val m = c as Map<*, *>
            assertEquals(m.str("aspect"), grid(m["out"]), Edit.reframeCrop(grid(m["in"]), m.str("aspect")))
            val canvas = Edit.outpaintCanvas(grid(m["in"]), m.str("aspect"))
            assertEquals(grid(m["canvas"]), canvas.tokens)
            assertArrayEquals(m.ints("canvas_known").map { it != 0 }.toBooleanArray(), canvas.known)
            assertArrayEquals(m.ints("box"), Edit.outpaintBox(grid(m["in"]).h, grid(m["in"]).w, m.str("aspect")))
        }
    }

    @Test fun reframeOutpaint() {
        for (c in cases.list("reframe")) {
            val m = c as Map<*, *>
            val b = backend()
            val calls = IntArray(1)
            val sampler = m.str("sampler")
            val draft = m["draft"]?.let { grid(it) }
            val out = Edit.reframeOutpaint(b, grid(m["in"]), m.str("aspect"), steps(m), m.long("seed"),
                { calls[0] += it }, sampler, draft)
            val what = "reframe ${m.str("aspect")} seed ${m.long("seed")} $sampler${if (draft == null) "" else " with a draft"}"
            assertEquals(what, grid(m["out"]), out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
            assertEquals(what, b.calls, calls[0])
            assertTrue(what, out.calls <= Edit.reframeCalls(b.window, grid(m["in"]), m.str("aspect"), steps(m), sampler))
        }
    }

    @Test fun reframeChecksTheDraftsShape() {
        val m = cases.list("reframe").map { it as Map<*, *> }.first { it["draft"] != null }
        val d = grid(m["draft"])
        try {
            Edit.reframeOutpaint(backend(), grid(m["in"]), m.str("aspect"), draft = d.slice(0, d.t, 0, d.h - 1))
            throw AssertionError("a draft of another shape accepted")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!, e.message!!.contains("draft"))
        }
    }

    /** tiles.py's decode_tiled on edit_cases.py's fake decoder step, twice in a row: the same float bits. */
    @Test fun decodeTiled() {
        val c = cases.obj("tiles")
        val latents = floats(c["latents"])
        val tile = c.ints("tile")
        val step = ::fakeDecoderStep
        val (first, states) = Tiles.decodeTiled(step, latents, null, tile[0], tile[1], c.int("spatial"))
        val negated = FloatTensor(latents.shape, FloatArray(latents.data.size) { -latents.data[it] })
        val (second, after) = Tiles.decodeTiled(step, negated, states, tile[0], tile[1], c.int("spatial"))
        val want = c.list("out")
        assertBits("decode_tiled, first call", floats(want[0]), first)
        assertBits("decode_tiled, second call", floats(want[1]), second)
        assertEquals(c.list("states").map { val s = it as Map<*, *>; listOf(s.int("y"), s.int("x")) to s.int("calls") }.toMap(), after)
    }

    /** tiles.py's _owners and encode_tiled on edit_cases.py's fake encoder step, twice in a row: the same float bits. */
    @Test fun encodeTiled() {
        val c = cases.obj("encode_tiled")
        for (o in c.list("owners")) {
            val m = o as Map<*, *>
            assertEquals("owners of ${m.int("length")} by ${m.int("size")}", m.list("spans").map { Golden.ints(it).toList() },
                Tiles.owners(m.int("length"), m.int("size")).map { it.toList() })
        }
        val tile = c.ints("tile")
        val frames = c.list("frames")
        val (first, states) = Tiles.encodeTiled(::fakeEncoderStep, floats(frames[0]), null, tile[0], tile[1], c.int("spatial"))
        val (second, after) = Tiles.encodeTiled(::fakeEncoderStep, floats(frames[1]), states, tile[0], tile[1], c.int("spatial"))
        val want = c.list("out")
        assertBits("encode_tiled, first call", floats(want[0]), first)
        assertBits("encode_tiled, second call", floats(want[1]), second)
        assertEquals(c.list("states").map { val s = it as Map<*, *>; listOf(s.int("y"), s.int("x")) to s.int("calls") }.toMap(), after)
    }

    /** edit.py's outpaint_pixel_draft on FakeTokenizer: whole, exported for a smaller frame (tiles), a larger one (cut). */
    @Test fun outpaintPixelDraft() {
        for (c in cases.list("outpaint_pixel_draft")) {
            val m = c as Map<*, *>
            val size = m["frame_size"]?.let { Golden.ints(it) }
            val draft = Edit.outpaintPixelDraft(DraftTokenizer(size), frames(m["frames"]).iterator(), m.ints("grid").toList(), m.str("aspect"))
            assertEquals("pixel draft ${m.str("aspect")} of ${m.ints("grid").toList()}, frame size ${size?.toList()}", grid(m["out"]), draft)
        }
        val m = cases.list("outpaint_pixel_draft")[0] as Map<*, *>
        try {
            val grid = m.ints("grid")
            Edit.outpaintPixelDraft(DraftTokenizer(), frames(m["frames"]).iterator(), listOf(grid[0] + 1, grid[1], grid[2]), m.str("aspect"))
            throw AssertionError("frames of another length accepted")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!, e.message!!.contains("latent frames"))
        }
    }

    /** tokenizing.py's held_positions: one token changed in the middle, at a corner, all equal, all different. */
    @Test fun heldPositions() {
        for (c in cases.list("held_positions")) {
            val m = c as Map<*, *>
            val held = Codec.heldPositions(grid(m["tokens"]), grid(m["prev"]), m.int("radius"))
            assertArrayEquals("held positions at radius ${m.int("radius")} of ${m["tokens"]}", m.ints("held").map { it != 0 }.toBooleanArray(), held)
        }
    }

    /** tokenizing.py's decode_tokens on FakeTokenizer's decoder, hold on (the default) and off: the same bytes. */
    @Test fun decodeTokensHoldsStill() {
        for (c in cases.list("decode_tokens")) {
            val m = c as Map<*, *>
            val b = HoldTokenizer(m.int("latents_per_call"))
            val tokens = grid(m["tokens"])
            val limit = (m["frames"] as Number?)?.toInt()
            for ((key, hold) in listOf("hold" to true, "free" to false)) {
                val want = frames(m[key])
                val decoded = if (hold) Codec.decodeTokens(b, tokens, limit) else Codec.decodeTokens(b, tokens, limit, hold = false)
                val got = decoded.toList()
                val what = "decode_tokens $key, ${b.latentsPerCall} latent frames a call"
                assertEquals(what, want.size, got.size)
                for (i in want.indices) assertArrayEquals("$what, frame $i", want[i].rgb, got[i].rgb)
            }
        }
    }

    @Test fun extend() {
        for (c in cases.list("extend")) {
            val m = c as Map<*, *>
            val b = backend()
            val sampler = m.str("sampler")
            val out = Edit.extend(b, grid(m["in"]), m.int("frames"), steps(m), m.long("seed"), sampler = sampler)
            val what = "extend ${m.int("frames")} seed ${m.long("seed")} $sampler"
            assertEquals(what, grid(m["out"]), out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
            assertTrue(what, out.calls <= Edit.extendCalls(b.window, grid(m["in"]), m.int("frames"), steps(m),
                sampler = sampler))
        }
    }

    @Test fun bothSamplersAreCovered() {
        for (kind in listOf("reframe", "extend")) {
            assertEquals(kind, setOf("revise", "maskgit"), cases.list(kind).map { (it as Map<*, *>).str("sampler") }.toSet())
            assertTrue("$kind: a case with the default steps", cases.list(kind).any { (it as Map<*, *>)["steps"] == null })
        }
    }

    /** edit.py's DEFAULT_STEPS and REVISE_THRESHOLD (a threshold per edit). */
    @Test fun defaultsAsPython() {
        val d = cases.obj("defaults")
        val steps = d.obj("steps")
        assertEquals(Edit.SAMPLERS.toSet(), steps.keys)
        for (sampler in Edit.SAMPLERS) assertEquals(sampler, steps.int(sampler), Edit.DEFAULT_STEPS.getValue(sampler))
        val threshold = d.obj("revise_threshold")
        assertEquals(threshold.keys, Edit.REVISE_THRESHOLD.keys)
        for ((edit, value) in Edit.REVISE_THRESHOLD) assertEquals(edit, (threshold[edit] as Number).toDouble(), value, 0.0)
    }

    /** One window revised at each edit's threshold (the grids differ: some drafted token scores between them). */
    @Test fun fillAtEachThreshold() {
        val fills = cases.list("fill")
        assertEquals(Edit.REVISE_THRESHOLD.keys, fills.map { (it as Map<*, *>).str("edit") }.toSet())
        for (c in fills) {
            val m = c as Map<*, *>
            val b = backend()
            val threshold = (m["threshold"] as Number).toDouble()
            assertEquals(Edit.REVISE_THRESHOLD.getValue(m.str("edit")), threshold, 0.0)
            val out = Edit.fill(b, grid(m["tokens"]).data, m.ints("known").map { it != 0 }.toBooleanArray(), m.int("steps"),
                m.long("seed"), null, grid(m["draft"]).data, threshold)
            val what = "fill at ${m.str("edit")}'s threshold $threshold"
            assertArrayEquals(what, grid(m["out"]).data, out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
        }
        try {
            val m = fills[0] as Map<*, *>
            Edit.fill(backend(), grid(m["tokens"]).data, m.ints("known").map { it != 0 }.toBooleanArray(), 2, 0, null,
                grid(m["draft"]).data)
            throw AssertionError("a draft without a threshold accepted")
        } catch (e: IllegalArgumentException) {
        }
    }

    @Test fun mirrorDraftAsNumpySymmetricPad() {
        // np.pad([[0, 1, 2]], ((1, 2), (7, 4)), mode="symmetric"): every row the same, reflections repeat
        val d = Edit.mirrorDraft(4, 14, TokenGrid(1, 1, 3, intArrayOf(0, 1, 2)), 1, 7)
        val row = listOf(0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0)
        for (y in 0 until 4) assertEquals(row, (0 until 14).map { d[0, y, it] })
        // np.pad([[0], [1]], ((5, 2), (0, 0)), mode="symmetric"): a margin of five above two rows
        val tall = Edit.mirrorDraft(9, 1, TokenGrid(1, 2, 1, intArrayOf(0, 1)), 5, 0)
        assertEquals(listOf(0, 0, 1, 1, 0, 0, 1, 1, 0), (0 until 9).map { tall[0, it, 0] })
    }

    @Test fun extendDraftCopiesTheLastLatentFrame() {
        val d = Edit.extendDraft(TokenGrid(2, 1, 2, intArrayOf(1, 2, 3, 4)), 9)
        assertEquals(TokenGrid(5, 1, 2, intArrayOf(1, 2, 3, 4, 3, 4, 3, 4, 3, 4)), d)
    }

    @Test fun samplerChoice() {
        assertEquals(0, Edit.checkSampler("revise", null))
        assertEquals(12, Edit.checkSampler("maskgit", null))
        assertEquals(7, Edit.checkSampler("maskgit", 7))
        for ((sampler, steps) in listOf("greedy" to null, "revise" to -1, "maskgit" to 0)) {
            try {
                Edit.checkSampler(sampler, steps)
                throw AssertionError("$sampler $steps accepted")
            } catch (e: TokenreelException) {
            }
        }
    }
}

package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/**
 * A tokenizer stand-in: each latent is -1 or 0.5 by its place and the video's call count (the state), each
 * decoded frame the first latent value.
 */
class FakeTokenizer(override val bits: Int = 3, override val latentsPerCall: Int = 1) : TokenizerBackend {
    override val tokenizerId = "fake"
    override val tokenizerSha256 = "00"
    override val spatial = 8
    override val group = 4
    val callSizes = ArrayList<Int>()

    override fun encodeStep(frames: FloatTensor, state: Any?): StepOutput {
        val (f, _, h, w) = frames.shape.toList()
        callSizes.add(f)
        val calls = (state as Int? ?: 0) + 1
        val latents = if (state == null) 1 + (f - 1) / group else f / group
        val out = FloatTensor(intArrayOf(latents, bits, h / spatial, w / spatial))
        for (i in out.data.indices) out.data[i] = if ((i + calls) % 3 == 0) -1f else 0.5f
        return StepOutput(out, calls)
    }

    override fun decodeStep(latents: FloatTensor, state: Any?): StepOutput {
        val (t, _, h, w) = latents.shape.toList()
        val frames = (if (state == null) 1 + (t - 1) * group else t * group)
        val out = FloatTensor(intArrayOf(frames, 3, h * spatial, w * spatial))
        for (i in out.data.indices) out.data[i] = latents.data[0]
        return StepOutput(out, "decoding")
    }
}

class CodecTest {
    private fun frames(n: Int) = (0 until n).map { Frame(16, 8, ByteArray(16 * 8 * 3) { b -> (it * 10 + b).toByte() }) }

    @Test fun groupsAsThePythonRuntime() {
        // codec.frame_groups: [1], then groups of 4; a short last group is padded with its last frame
        assertEquals(listOf(1, 4, 4), Codec.frameGroups(frames(7).iterator(), 4, 1).map { it.size }.toList())
        assertEquals(listOf(5, 8), Codec.frameGroups(frames(10).iterator(), 4, 2).map { it.size }.toList())
        val last = Codec.frameGroups(frames(7).iterator(), 4, 1).last()
        assertEquals(last[2], last[3])
    }

    @Test fun encodesAndDecodes() {
        val backend = FakeTokenizer()
        val enc = Codec.encodeFrames(backend, frames(10).iterator())!!
        assertEquals(10, enc.frames)
        assertEquals(listOf(1, 4, 4, 4), backend.callSizes)
        assertEquals(4, enc.tokens.t)
        assertEquals(1, enc.tokens.h)
        assertEquals(2, enc.tokens.w)
        val decoded = Codec.decodeTokens(backend, enc.tokens, enc.frames).toList()
        assertEquals(10, decoded.size)
        assertEquals(16, decoded[0].width)
        assertEquals(null, Codec.encodeFrames(backend, emptyList<Frame>().iterator()))
    }

    @Test fun pixelConversionsRoundTrip() {
        val f = frames(1)
        val back = Codec.toFrames(Codec.toFloat(f))
        assertArrayEquals(f[0].rgb, back[0].rgb)
        val t = Codec.toFloat(f)
        assertEquals((f[0].rgb[0].toInt() and 0xff) / 127.5f - 1f, t.data[0], 0f)
    }

    @Test fun quantizeAndLatentsAreInverse() {
        val grid = TokenGrid(2, 2, 3, IntArray(12) { (it * 5) % 8 })
        assertEquals(grid, Tokens.quantize(Tokens.latentsOf(grid, 3)))
    }

    @Test fun tiledDecodeCoversALargerCanvas() {
        val latents = FloatTensor(intArrayOf(1, 2, 6, 10))
        for (i in latents.data.indices) latents.data[i] = 1f
        val calls = ArrayList<List<Int>>()
        val (frames, states) = Tiles.decodeTiled({ tile, state ->
            calls.add(tile.shape.toList())
            val out = FloatTensor(intArrayOf(1, 3, tile.shape[2] * 8, tile.shape[3] * 8))
            java.util.Arrays.fill(out.data, 0.25f)
            StepOutput(out, (state as Int? ?: 0) + 1)
        }, latents, null, 6, 6, 8)
        assertEquals(listOf(1, 3, 48, 80), frames.shape.toList())
        assertEquals(3, calls.size)                       // x starts 0, 2 and 4
        for (v in frames.data) assertEquals(0.25f, v, 1e-6f)
        assertEquals(listOf(1, 1, 1), states.values.toList())
    }

    @Test fun extensionLeavesOutTheSourcePadding() {
        // 15 source frames take 5 latent frames: 1 + 4 groups of 4 = 17 positions, the last 2 repeats
        assertEquals(17, Codec.paddedFrames(5, 4))
        val kept = Codec.withoutPadding((0 until 25).asSequence(), 15, 17).toList()
        assertEquals((0 until 15).toList() + (17 until 25).toList(), kept)
        assertEquals(23, kept.size)                      // 15 source frames + 8 new ones
    }
}

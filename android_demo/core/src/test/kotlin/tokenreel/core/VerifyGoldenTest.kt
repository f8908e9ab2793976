package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Against a folder written by `tokenreel verify DIR --write-golden GDIR` (tokenreel/verify/model_cases.py). */
class VerifyGoldenTest {
    private fun index(dir: File) = (Golden.json(File(dir, "golden.json")) as Map<*, *>)

    @Test fun indexNamesTheSamplerAndItsFiles() {
        val dir = Golden.verify()
        val index = index(dir)
        assertEquals(Sampler.SPEC_VERSION, index["sampler"])
        for (name in index.obj("files").keys) assertTrue("$name is listed but missing", File(dir, name as String).isFile)
        for (name in listOf("sampler-v1.json", "tokens.json", "tokens-ans-ctx.trl", "tokens-zstd.trl")) {
            assertTrue("$name missing", File(dir, name).isFile)
        }
    }

    @Test fun runtimeCasesMatchTheRepositorys() {
        // the verify folder repeats the runtime's own golden files: they must equal tests/golden's
        for (name in listOf("sampler-v1.json", "tokens.json", "tokens-ans-ctx.trl")) {
            assertArrayEquals(name, File(Golden.runtime(), name).readBytes(), File(Golden.verify(), name).readBytes())
        }
    }

    @Test fun transformerLogitsGiveTheSamePicks() {
        val dir = Golden.verify()
        val files = index(dir).obj("files")
        val shape = (files.obj("transformer-logits.f32")).ints("shape")
        val (splits, n, v) = shape.toList()
        val raw = ByteBuffer.wrap(File(dir, "transformer-logits.f32").readBytes()).order(ByteOrder.LITTLE_ENDIAN)
        val logits = FloatArray(splits * n * v) { raw.getFloat(it * 4) }
        assertEquals(0, raw.capacity() - logits.size * 4)
        val case = Golden.json(File(dir, "transformer-picks.json")) as Map<*, *>
        val known = case.ints("known").map { it != 0 }.toBooleanArray()
        val tokensIn = case.ints("tokens_in")
        val subBits = Integer.numberOfTrailingZeros(v)      // V = 2^sub_bits, and the mask id is V
        val picks = Sampler.maskgitDecode({ logits }, tokensIn, known, splits, subBits, v, case.int("steps"), case.long("seed"))
        assertArrayEquals(case.ints("tokens_out"), picks)
        // the stored sub-tokens are the window's tokens split as this port splits them
        val sub = Golden.flatten(Golden.json(File(dir, "transformer-sub-tokens.json"))).map { it.toLong() }.toLongArray()
        assertArrayEquals(sub, Tokens.subTokensOf(tokensIn, known, splits, subBits, v))
    }

    @Test fun encoderCaseIsConsistent() {
        val dir = Golden.verify()
        val files = index(dir).obj("files")
        val frames = files.obj("encoder-frames.u8").ints("shape")
        assertEquals(frames.fold(1L) { a, b -> a * b }, File(dir, "encoder-frames.u8").length())
        val tokens = files.obj("encoder-tokens.json").ints("shape")
        // 5 frames: the first alone, then one group of 4 -> 2 latent frames of (H/8, W/8)
        assertArrayEquals(intArrayOf(2, frames[1] / 8, frames[2] / 8), tokens)
        val groups = Codec.frameGroups((0 until frames[0]).map { Frame(1, 1) }.iterator(), 4, 1).map { it.size }.toList()
        assertEquals(listOf(1, 4), groups)
    }
}

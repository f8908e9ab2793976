package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Clip as the Python API's: crop, trim and cat give the tokens, header, name and errors of
 * tests/golden/clip-cases.json (tests/clip_cases.py); save and load round trip; encode, reframe, extend and
 * frames run the fake tokenizer and transformer (CodecTest, EditGoldenTest) through the core's functions.
 */
class ClipTest {
    private val golden = Golden.runtime()
    private val cases = Golden.json(File(golden, "clip-cases.json")) as Map<*, *>

    /** A source of the cases: its file read, `frames` set where given, named by its key. */
    private fun source(key: String): Clip {
        val s = cases.obj("sources").obj(key)
        val clip = Clip.load(File(golden, s.str("file")))
        val header = LinkedHashMap(clip.header)
        if (s["frames"] != null) header["frames"] = s.long("frames")
        return Clip(clip.tokens, header, name = key)
    }

    private fun apply(key: String, steps: List<*>): Clip {
        var clip = source(key)
        for (step in steps) {
            val m = step as Map<*, *>
            fun int(k: String) = (m[k] as Number?)?.toInt()
            fun double(k: String) = (m[k] as Number?)?.toDouble()
            clip = when (m.str("op")) {
                "crop" -> clip.crop(int("left") ?: 0, int("top") ?: 0, int("width"), int("height"))
                "trim" -> clip.trim(double("start") ?: 0.0, double("end"))
                "cat" -> clip.cat(*m.list("clips").map { val (k, s) = it as List<*>; apply(k as String, s as List<*>) }.toTypedArray())
                else -> throw AssertionError("unknown op ${m["op"]}")
            }
        }
        return clip
    }

    private fun message(body: () -> Unit): String? = try { body(); null } catch (e: TokenreelException) { e.message }

    @Test fun cropTrimAndCatAsPython() {
        for (c in cases.list("cases")) {
            val m = c as Map<*, *>
            val what = m.str("case")
            val run = { apply(m.str("source"), m.list("steps")) }
            if (m["error"] != null) {
                assertEquals(what, m.str("error"), message { run() })
                continue
            }
            val clip = run()
            val t = m.obj("tokens")
            val (tt, h, w) = t.ints("shape").toList()
            assertEquals(what, TokenGrid(tt, h, w, t.ints("data")), clip.tokens)
            assertEquals(what, m.obj("header"), clip.header)
            assertEquals(what, m.str("name"), clip.name)
        }
        assertEquals("cat: give at least one clip", message { cat() })
        val golden = source("golden")
        val faster = Clip(golden.tokens, golden.header + ("fps" to 30.0), name = "faster")
        assertEquals("cat: clip 2 (faster) runs at 30 fps, clip 1 (golden) at 25; concatenate clips of one frame rate",
            message { cat(golden, faster) })
        assertEquals(golden.tokens, cat(golden).tokens)
    }

    @Test fun savesAndLoads() {
        val dir = createTempDir("clip")
        try {
            val file = File(dir, "again.trl")
            for (clip in listOf(Clip.load(File(golden, "tokens-v2.trl")), source("padded").trim(start = 0.2).crop(left = 8))) {
                assertTrue(clip.save(file) > 0)
                val back = Clip.load(file)
                assertEquals(clip.tokens, back.tokens)
                assertEquals(clip.header, back.header)
                assertEquals(file.path, back.name)
            }
            assertEquals(listOf("again.trl"), dir.list()!!.toList())
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test fun refusesWhatPythonRefuses() {
        val clip = Clip.load(File(golden, "tokens-v2.trl"))
        assertEquals("empty: tokens must be a non-empty (T, H, W) grid, not (0, 6, 8)",
            message { Clip(TokenGrid(0, 6, 8), clip.header, name = "empty") })
        assertTrue(message { clip.reframe("9:16") }!!.contains("no models to run"))
        assertTrue(message { clip.frames() }!!.contains("no models to run"))
        assertEquals("fit 'fill': choose one of outpaint, crop", message { clip.reframe("9:16", fit = "fill") })
        assertEquals("extend: give seconds or frames (one of them)", message { clip.extend() })
        assertTrue(message { Editor(FakeTokenizer()).load(File(golden, "tokens-v2.trl")) }!!
            .endsWith("tokens-v2.trl: made by tokenizer golden (000000000000), not the loaded fake (00); decode it with " +
                "the weights that made it or re-encode the source video"))
        // a crop to an aspect needs no model
        assertEquals(Edit.reframeCrop(clip.tokens, "1:1"), clip.reframe("1:1", fit = "crop").tokens)
    }

    private fun pictures(n: Int, width: Int = 16, height: Int = 8) =
        (0 until n).map { i -> Frame(width, height, ByteArray(width * height * 3) { b -> (i * 10 + b).toByte() }) }

    private fun bytes(frames: Sequence<Frame>) = frames.map { it.rgb.toList() }.toList()

    @Test fun encodesAndDecodes() {
        val tokenizer = FakeTokenizer()
        val clip = Editor(tokenizer).encode(pictures(10).iterator(), 25.0, intArrayOf(32, 16), "short side scaled", "ten")
        assertEquals(listOf(4, 1, 2), clip.grid)
        assertEquals(mapOf("tokenizer" to "fake", "tokenizer_sha256" to "00", "bits" to 3L, "fps" to 25.0, "frames" to 10L,
            "size" to listOf(16L, 8L), "source_size" to listOf(32L, 16L), "resize" to "short side scaled"), clip.header)
        assertEquals(bytes(Codec.decodeTokens(tokenizer, clip.tokens, 10)), bytes(clip.frames()))
        assertEquals(6, clip.trim(start = 0.2).frames().count())      // from frame 4 to the 10th
        assertEquals("ten: contains no decodable video frames", message { Editor(tokenizer).encode(emptyList<Frame>().iterator(), 25.0, name = "ten") })
    }

    @Test fun reframesAndExtendsKeepingTheSource() {
        val tokenizer = FakeTokenizer()
        val transformer = FakeTransformer(intArrayOf(4, 5, 5), 3, 1, 3)
        val source = pictures(10, 48, 40)      // 5 x 6 tokens
        val clip = Editor(tokenizer, transformer).encode(source.iterator(), 25.0)

        val square = clip.reframe("1:1", seed = 3)
        val outpainted = Edit.reframeOutpaint(transformer, clip.tokens, "1:1", seed = 3,
            draft = Edit.outpaintPixelDraft(tokenizer, source.iterator(), clip.grid, "1:1"))
        assertEquals(outpainted.tokens, square.tokens)
        assertEquals(outpainted.calls, square.calls)
        assertEquals(listOf(48, 48), square.size)
        val decoded = Codec.decodeTokens(tokenizer, square.tokens, 10)
        assertEquals(bytes(Composite.reframedFrames(decoded, source.asSequence(), intArrayOf(0, 0, 40, 48))), bytes(square.frames()))
        assertEquals(bytes(decoded), bytes(square.frames(keepSource = false)))
        // a token edit keeps no source: its reframe decodes every pixel
        val loaded = Clip(clip.tokens, clip.header, clip.editor)
        assertEquals(bytes(square.frames(keepSource = false)), bytes(loaded.reframe("1:1", seed = 3).frames()))

        val longer = clip.extend(frames = 6, seed = 1)
        assertEquals(Edit.extend(transformer, clip.tokens, 6, seed = 1).tokens, longer.tokens)
        assertEquals(13 + 6, longer.frameCount)       // the source's 13 positions (3 repeats fill its last group), 6 more
        val frames = longer.frames().toList()
        assertEquals(16, frames.size)                 // the source's 10 frames, then the 6 generated
        for (i in 0 until 10) assertArrayEquals(source[i].rgb, frames[i].rgb)
        assertEquals(bytes(Codec.withoutPadding(Codec.decodeTokens(tokenizer, longer.tokens, 19), 10, 13)),
            bytes(longer.frames(keepSource = false)))
        assertEquals(13 + 5, clip.extend(seconds = 0.2).frameCount)     // 0.2 s at 25 fps
    }

    /**
     * Clip.reframe's revise draft (api.py `Clip._outpaint_draft`): the source's own pixels edge-replicated and encoded, a
     * loaded clip's decoded ones, over tiles on an encoder exported for the clip's size, and the source's tokens
     * mirrored where the export is larger than the clip (it cannot be decoded); MaskGIT takes no draft.
     */
    @Test fun reframeDraftsFromPixels() {
        val transformer = FakeTransformer(intArrayOf(2, 6, 6), 3, 1, 3)
        val source = pictures(5, 20, 12)      // 6 x 10 tokens of DraftTokenizer, 2 latent frames
        val whole = DraftTokenizer()
        val clip = Editor(whole, transformer).encode(source.iterator(), 25.0)
        fun reframed(draft: TokenGrid?, sampler: String = "revise") =
            Edit.reframeOutpaint(transformer, clip.tokens, "1:1", seed = 2, sampler = sampler, draft = draft).tokens

        val fromSource = Edit.outpaintPixelDraft(whole, source.iterator(), clip.grid, "1:1")
        assertEquals(reframed(fromSource), clip.reframe("1:1", seed = 2).tokens)
        val fromDecoded = Edit.outpaintPixelDraft(whole, Codec.decodeTokens(whole, clip.tokens, 5).iterator(), clip.grid, "1:1")
        val loaded = Clip(clip.tokens, clip.header, clip.editor)
        assertEquals(reframed(fromDecoded), loaded.reframe("1:1", seed = 2).tokens)

        val exported = DraftTokenizer(intArrayOf(20, 12))
        val encoded = Editor(exported, transformer).encode(source.iterator(), 25.0)
        assertEquals(clip.tokens, encoded.tokens)       // one tile: the whole frame
        val tiled = Edit.outpaintPixelDraft(exported, source.iterator(), clip.grid, "1:1")
        assertEquals(reframed(tiled), encoded.reframe("1:1", seed = 2).tokens)

        val mirrored = Edit.outpaintDraft(clip.tokens, "1:1")
        assertEquals(reframed(mirrored), Clip(clip.tokens, clip.header, Editor(DraftTokenizer(intArrayOf(24, 12)), transformer))
            .reframe("1:1", seed = 2).tokens)
        assertEquals(reframed(mirrored), reframed(null))
        // an export of the clip's size drafts as the server does (tiles of the clip's own size on both);
        // the other drafts differ, and so do the reframes they give
        assertEquals(fromSource, tiled)
        val drafts = listOf(fromSource, fromDecoded, mirrored)
        for (i in 0 until 3) for (j in 0 until i) assertTrue("drafts $i and $j", drafts[i] != drafts[j])
        for (i in 0 until 3) for (j in 0 until i) assertTrue("reframes $i and $j", reframed(drafts[i]) != reframed(drafts[j]))
        assertEquals(reframed(null, "maskgit"), clip.reframe("1:1", seed = 2, sampler = "maskgit").tokens)
    }
}

package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.ByteArrayOutputStream
import java.io.File

/**
 * The version-2 writer against tests/golden/trl-write-cases.json (tests/trl_write_cases.py): the same appends
 * give the bytes Python's TrlWriter writes, each chunk's coder chosen as Python chooses it (zstd replayed from
 * Python's payloads), and ans-wave alone without a Zstd where that is what Python was asked for.
 */
class TrlWriterTest {
    private val cases = (Golden.json(File(Golden.runtime(), "trl-write-cases.json")) as Map<*, *>)["files"] as List<*>

    private fun hex(s: String) = ByteArray(s.length / 2) { ((Character.digit(s[2 * it], 16) shl 4) or Character.digit(s[2 * it + 1], 16)).toByte() }
    private fun hex(b: ByteArray) = b.joinToString("") { "%02x".format(it.toInt() and 0xff) }

    /** A Zstandard compressor that gives Python's payload for planes Python compressed (planes hex -> payload hex). */
    private inner class Replay(val payloads: Map<*, *>) : Zstd {
        override fun compress(data: ByteArray, level: Int): ByteArray {
            assertEquals(19, level)
            return hex(payloads[hex(data)] as? String ?: throw AssertionError("planes Python did not compress"))
        }
        override fun decompress(data: ByteArray, maxOutputSize: Int) = throw AssertionError("not read here")
    }

    private fun tokens(case: Map<*, *>): TokenGrid {
        val t = case["tokens"] as Map<*, *>
        val (n, h, w) = (t["shape"] as List<*>).map { (it as Long).toInt() }
        return TokenGrid(n, h, w, (t["data"] as List<*>).map { (it as Long).toInt() }.toIntArray())
    }

    @Test fun writesPythonsBytes() {
        for (c in cases.map { it as Map<*, *> }) {
            val name = c["name"]
            val grid = tokens(c)
            @Suppress("UNCHECKED_CAST") val meta = c["meta"] as Map<String, Any?>
            val coder = c["coder"] as String?
            val out = ByteArrayOutputStream()
            val writer = TrlWriter(out, meta, coder, (c["chunk_frames"] as Long).toInt(), Replay(c["zstd"] as Map<*, *>))
            val plane = grid.h * grid.w
            var t = 0
            for (a in c["appends"] as List<*>) {
                val (n, frames) = (a as List<*>).map { it as Long }
                writer.append(TokenGrid(n.toInt(), grid.h, grid.w, grid.data.copyOfRange(t * plane, (t + n.toInt()) * plane)), frames)
                t += n.toInt()
            }
            assertEquals("$name", out.size().toLong(), writer.bytes)
            writer.close()
            assertEquals("$name", c["hex"], hex(out.toByteArray()))
            assertEquals("$name", c["coders"], writer.coders.joinToString("+"))
            if (coder == Trl.ANS_WAVE) {        // a port without Zstandard writes the same file
                assertArrayEquals("$name", hex(c["hex"] as String), Trl.packStream(grid, meta, chunkFrames = (c["chunk_frames"] as Long).toInt()))
            }
        }
    }

    @Test fun writeIsPackStreamAndTokensV2IsChunksOfTwo() {
        val golden = cases.map { it as Map<*, *> }.first { it["name"] == "tokens-v2" }
        @Suppress("UNCHECKED_CAST") val meta = golden["meta"] as Map<String, Any?>
        assertArrayEquals(File(Golden.runtime(), "tokens-v2.trl").readBytes(), Trl.packStream(tokens(golden), meta, chunkFrames = 2))
        val back = Trl.unpack(Trl.packStream(tokens(golden), meta))
        assertEquals(tokens(golden), back.tokens)
        assertEquals(9, back.frames)
    }

    @Test fun refusesWhatReadersWouldRefuse() {
        val meta = mapOf("tokenizer" to "golden", "tokenizer_sha256" to "0".repeat(64), "bits" to 1L, "fps" to 25.0,
            "size" to listOf(8L, 8L), "frames" to 2397L)
        // 600 x 1 x 1 zeros: a second ans-wave chunk would be over the cost bound, and there is no zstd
        val e = try { Trl.packStream(TokenGrid(600, 1, 1), meta, chunkFrames = 300); null } catch (e: TokenreelException) { e }
        assertTrue(e?.message, e?.message?.contains("would be refused by readers") == true)
        val bad = try { TrlWriter(ByteArrayOutputStream(), meta - "size"); null } catch (e: TokenreelException) { e }
        assertEquals("cannot write a .trl: header lacks size", bad?.message)
    }
}

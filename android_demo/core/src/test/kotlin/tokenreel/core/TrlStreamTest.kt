package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

/**
 * Version-2 .trl files (docs/trl-format.md, "Version 2"): tests/golden/tokens-v2.trl reads to tokens.json, and the
 * files and cuts of tests/golden/trl-stream-cases.json (tests/trl_stream_cases.py) read as Python's
 * trl.unpack(data[:at], partial=True) reads them: the same complete chunks, frames, coders and reason for
 * stopping, the same one-line errors; tests/golden/bad-trl's version-2 files recover what Python recovers.
 */
class TrlStreamTest {
    private val golden = Golden.runtime()
    private val cases = Golden.json(File(golden, "trl-stream-cases.json")) as Map<*, *>

    private fun hex(s: String) = ByteArray(s.length / 2) { ((Character.digit(s[2 * it], 16) shl 4) or Character.digit(s[2 * it + 1], 16)).toByte() }
    private fun hex(b: ByteArray) = b.joinToString("") { "%02x".format(it.toInt() and 0xff) }

    /** A Zstandard decoder that replays the decompressions Python wrote beside a file (payload hex -> planes hex). */
    private class Replay(val planes: Map<*, *>) : Zstd {
        override fun compress(data: ByteArray, level: Int) = throw AssertionError("not written here")
        override fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray {
            val raw = planes[data.joinToString("") { "%02x".format(it.toInt() and 0xff) }] as? String
                ?: throw TokenreelException("not a payload of the golden file")
            val out = ByteArray(raw.length / 2) { ((Character.digit(raw[2 * it], 16) shl 4) or Character.digit(raw[2 * it + 1], 16)).toByte() }
            assertEquals(out.size, maxOutputSize)
            return out
        }
    }

    private fun goldenTokens(): TokenGrid {
        val nested = Golden.json(File(golden, "tokens.json")) as List<*>
        return TokenGrid(nested.size, (nested[0] as List<*>).size, ((nested[0] as List<*>)[0] as List<*>).size,
            Golden.flatten(nested).map { it.toInt() }.toIntArray())
    }

    private fun message(block: () -> Unit): String? = try { block(); null } catch (e: TokenreelException) { e.message!! }

    @Test fun readsTheGoldenFile() {
        val data = File(golden, "tokens-v2.trl").readBytes()
        val file = Trl.unpack(data)
        assertEquals(goldenTokens(), file.tokens)
        assertEquals(listOf(3L, 6L, 8L), file.header["grid"])
        assertEquals(9, file.frames)
        assertEquals("ans-wave", file.header["coder"])
        assertTrue(file.complete && "grid_hw" !in file.header && "version" !in file.header)   // a strict read: no partial fields
        val partial = Trl.read(File(golden, "tokens-v2.trl"), partial = true)
        assertEquals(goldenTokens(), partial.tokens)
        assertEquals(2, partial.chunks)
        assertEquals(2L, partial.header["version"])
        assertTrue(partial.complete && partial.stopped == null)
        // the version-1 golden files read partially too: one whole chunk
        val v1 = Trl.read(File(golden, "tokens-ans-wave.trl"), partial = true)
        assertEquals(goldenTokens(), v1.tokens)
        assertEquals(listOf(1L, true, 1L), listOf(v1.header["version"], v1.header["complete"], v1.header["chunks"]))
    }

    /** Every file of trl-stream-cases.json, whole and cut around every record boundary, as Python reads it. */
    @Test fun readsEveryCutAsPython() {
        var cuts = 0
        for (case in cases["files"] as List<*>) {
            case as Map<*, *>
            val name = case.str("name")
            val data = hex(case.str("hex"))
            if (name == "tokens-v2.trl") assertArrayEquals(data, File(golden, name).readBytes())
            val zstd = Replay(case["zstd"] as Map<*, *>)
            val shape = (case["tokens"] as Map<*, *>).ints("shape")
            val all = (case["tokens"] as Map<*, *>).ints("data")
            val whole = Trl.unpack(data, zstd = zstd, partial = true)
            assertEquals(name, case["header"], whole.header)
            assertEquals(name, TokenGrid(shape[0], shape[1], shape[2], all), whole.tokens)
            assertEquals(name, TokenGrid(shape[0], shape[1], shape[2], all), Trl.unpack(data, zstd = zstd).tokens)
            for (cut in case["cuts"] as List<*>) {
                cut as Map<*, *>
                val at = cut.int("at")
                val part = data.copyOf(at)
                val what = "$name cut at $at"
                if ("error" in cut) {
                    assertEquals(what, cut["error"], message { Trl.unpack(part, zstd = zstd, partial = true) })
                    assertEquals(what, cut["error"], message { Trl.unpack(part, zstd = zstd) })
                    cuts++
                    continue
                }
                val file = Trl.unpack(part, zstd = zstd, partial = true)
                val t = (cut["grid"] as List<*>)[0] as Long
                assertEquals(what, cut["chunks"], file.header["chunks"])
                assertEquals(what, cut["grid"], file.header["grid"])
                assertEquals(what, cut["frames"], file.header["frames"])
                assertEquals(what, cut["coder"], file.header["coder"])
                assertEquals(what, cut["complete"], file.complete)
                assertEquals(what, cut["stopped"], file.stopped)
                assertEquals(what, TokenGrid(t.toInt(), shape[1], shape[2], all.copyOf(t.toInt() * shape[1] * shape[2])), file.tokens)
                assertEquals(what, cut["strict_error"], message { Trl.unpack(part, zstd = zstd) })
                cuts++
            }
        }
        assertTrue("only $cuts cuts", cuts >= 100)
    }

    /** A file still being written, read from disk: the complete chunks so far, and a strict read says it is incomplete. */
    @Test fun readsAFileOnDiskPartially() {
        val data = File(golden, "tokens-v2.trl").readBytes()
        val dir = createTempDir("trl-stream")
        try {
            val f = File(dir, "rec.trl")
            f.writeBytes(data.copyOf(data.size - 30))          // inside chunk 2
            val file = Trl.read(f, partial = true)
            assertEquals(1, file.chunks)
            assertEquals(TokenGrid(2, 6, 8, goldenTokens().data.copyOf(2 * 48)), file.tokens)
            assertEquals("the file ends in chunk 2", file.stopped)
            val m = message { Trl.read(f) }!!
            assertTrue(m, m.startsWith(f.path) && m.contains("incomplete .trl: the file ends in chunk 2; 1 complete chunk (2 latent frames, 5 frames)"))
        } finally {
            dir.deleteRecursively()
        }
    }

    /** Without a Zstandard decoder a zstd chunk is where a partial read stops; a strict read says why, not "incomplete". */
    @Test fun zstdChunksNeedADecoder() {
        val mixed = (cases["files"] as List<*>).map { it as Map<*, *> }.first { it["name"] == "mixed.trl" }
        val data = hex(mixed.str("hex"))
        val file = Trl.unpack(data, partial = true)
        assertEquals(1, file.chunks)
        assertEquals("chunk 2 is zstd-compressed and this build has no Zstandard decoder", file.stopped)
        assertEquals("token file: chunk 2 is zstd-compressed and this build has no Zstandard decoder (pass a Zstd implementation)",
            message { Trl.unpack(data) })
    }

    /** tests/golden/bad-trl: a partial read of each recovers what Python's does (index.json "partial"), or refuses the file too. */
    @Test fun partialReadsOfTheGoldenBadFiles() {
        val folder = File(golden, "bad-trl")
        val index = Golden.json(File(folder, "index.json")) as Map<*, *>
        var v2 = 0
        for ((name, case) in index) {
            case as Map<*, *>
            val file = File(folder, name as String)
            val expected = case["partial"] as Map<*, *>?
            val t0 = System.nanoTime()
            if (expected == null) {
                val m = message { Trl.read(file, NeverZstd, partial = true) }
                assertTrue("$name: $m", m != null && m.contains(case.str("error")) && m.startsWith(file.path))
            } else {
                val got = Trl.read(file, NeverZstd, partial = true)
                assertEquals(name, expected["chunks"], got.header["chunks"])
                assertEquals(name, expected["stopped"], got.stopped)
                assertTrue(name, !got.complete && got.tokens.t.toLong() == (got.header["grid"] as List<*>)[0])
                v2++
            }
            assertTrue("$name: took ${(System.nanoTime() - t0) / 1e9} s", System.nanoTime() - t0 < 2_000_000_000L)
        }
        assertTrue("only $v2 version-2 bad files", v2 >= 10)
    }

    /** A Zstandard decoder that must not be reached: a chunk's declared size is checked before decompressing. */
    private object NeverZstd : Zstd {
        override fun compress(data: ByteArray, level: Int) = throw AssertionError()
        override fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray = throw AssertionError("decompressed")
    }

    /** Hostile chunk fields a forger can set with every checksum right: refused before any work, the chunks before kept. */
    @Test fun hostileChunksStopBeforeAnyWork() {
        val data = File(golden, "tokens-v2.trl").readBytes()
        val chunk2 = 12 + 216 + 4 + 16 + 212 + 4
        assertEquals('F'.toInt(), data[chunk2].toInt())
        fun patched(at: Int, vararg bytes: Int): ByteArray {
            val out = data.copyOf()
            for ((i, b) in bytes.withIndex()) out[at + i] = b.toByte()
            // every crc32 after the change made right again: the header's, each chunk's, the end chunk's
            for (end in listOf(12 + 216 + 4, chunk2, chunk2 + 16 + 100 + 4, data.size)) {
                val crc = java.util.zip.CRC32(); crc.update(out, 0, end - 4)
                for (k in 0 until 4) out[end - 4 + k] = (crc.value ushr (8 * k)).toByte()
            }
            return out
        }
        assertArrayEquals(data, patched(0))
        for ((bytes, why) in listOf(
            Pair(patched(chunk2 + 2, 0xff, 0xff), "chunk 2: a 100-byte ans-wave payload cannot hold 65535x6x8 tokens"),
            Pair(patched(chunk2 + 12, 0xff, 0xff, 0xff, 0xff), "chunk 2: a 4294967295-byte payload is longer than any coder writes for 1x6x8 tokens"),
            Pair(patched(chunk2 + 4, 0xff, 0xff, 0xff, 0xff), "chunk 2 takes the file past the limits (65536 chunks, 8388608 tokens)"),
            Pair(patched(chunk2, 0x27), "chunk 2 is corrupt (kind b\"'\", coder 1, 1 latent frames)"),
            Pair(patched(chunk2, 0x5c), "chunk 2 is corrupt (kind b'\\\\', coder 1, 1 latent frames)"),
            Pair(patched(chunk2 + 1, 0, 0, 0), "chunk 2 is corrupt (kind b'F', coder 0, 0 latent frames)"))) {
            val t0 = System.nanoTime()
            val file = Trl.unpack(bytes, partial = true)
            assertTrue(why, System.nanoTime() - t0 < 1_000_000_000L)
            assertEquals(why, file.stopped)
            assertEquals(1, file.chunks)
            assertEquals(TokenGrid(2, 6, 8, goldenTokens().data.copyOf(96)), file.tokens)
        }
        assertEquals("b'\\t'", TrlStream.pythonByte(9))
        assertEquals("b'\\xff'", TrlStream.pythonByte(255))
        assertNull(message { Trl.unpack(data) })          // the file itself reads whole
    }
}

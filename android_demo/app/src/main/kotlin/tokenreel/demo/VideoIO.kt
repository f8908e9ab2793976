package tokenreel.demo

import android.content.ContentValues
import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Matrix
import android.graphics.Paint
import android.media.MediaCodec
import android.media.MediaCodecInfo
import android.media.MediaFormat
import android.media.MediaMetadataRetriever
import android.media.MediaMuxer
import android.net.Uri
import android.os.Environment
import android.provider.MediaStore
import tokenreel.core.Frame
import tokenreel.core.TokenreelException
import java.io.File

/** What the app knows about a picked video. */
class VideoInfo(val frameCount: Int, val fps: Double, val width: Int, val height: Int)

/**
 * Reads frames of a gallery video with MediaMetadataRetriever, scaled to cover the exported frame size and
 * centre-cropped to it exactly (tokenreel/runtime/video.py: read_video_cropped): the step models have
 * fixed shapes.
 */
class VideoReader(context: Context, uri: Uri) : AutoCloseable {
    private val retriever = MediaMetadataRetriever()
    val info: VideoInfo

    init {
        try {
            retriever.setDataSource(context, uri)
        } catch (e: RuntimeException) {
            retriever.release()
            throw TokenreelException("cannot open the video (${e.message})")
        }
        fun meta(key: Int) = retriever.extractMetadata(key)
        val count = meta(MediaMetadataRetriever.METADATA_KEY_VIDEO_FRAME_COUNT)?.toIntOrNull() ?: 0
        val durationMs = meta(MediaMetadataRetriever.METADATA_KEY_DURATION)?.toLongOrNull() ?: 0L
        if (count <= 0 || durationMs <= 0) {
            retriever.release()
            throw TokenreelException("the file has no decodable video frames")
        }
        val rotation = meta(MediaMetadataRetriever.METADATA_KEY_VIDEO_ROTATION)?.toIntOrNull() ?: 0
        val w = meta(MediaMetadataRetriever.METADATA_KEY_VIDEO_WIDTH)?.toIntOrNull() ?: 0
        val h = meta(MediaMetadataRetriever.METADATA_KEY_VIDEO_HEIGHT)?.toIntOrNull() ?: 0
        val rotated = rotation == 90 || rotation == 270
        info = VideoInfo(count, count * 1000.0 / durationMs, if (rotated) h else w, if (rotated) w else h)
    }

    /** Frames 0 until [count] as RGB of exactly [width] x [height]. */
    fun frames(count: Int, width: Int, height: Int): Sequence<Frame> = sequence {
        for (i in 0 until Math.min(count, info.frameCount)) {
            val bitmap = retriever.getFrameAtIndex(i) ?: break
            yield(coverCrop(bitmap, width, height))
            bitmap.recycle()
        }
    }

    override fun close() = retriever.release()

    companion object {
        /** Scale to cover width x height (keeping the aspect), centre-crop, and unpack to RGB bytes. */
        fun coverCrop(src: Bitmap, width: Int, height: Int): Frame {
            val scale = Math.max(width.toFloat() / src.width, height.toFloat() / src.height)
            val out = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
            val m = Matrix()
            m.postScale(scale, scale)
            m.postTranslate((width - src.width * scale) / 2f, (height - src.height * scale) / 2f)
            Canvas(out).drawBitmap(src, m, Paint(Paint.FILTER_BITMAP_FLAG))
            val argb = IntArray(width * height)
            out.getPixels(argb, 0, width, 0, 0, width, height)
            out.recycle()
            val frame = Frame(width, height)
            for (i in argb.indices) {
                frame.rgb[i * 3] = (argb[i] shr 16).toByte()
                frame.rgb[i * 3 + 1] = (argb[i] shr 8).toByte()
                frame.rgb[i * 3 + 2] = argb[i].toByte()
            }
            return frame
        }

        fun toBitmap(frame: Frame): Bitmap {
            val argb = IntArray(frame.width * frame.height) { i ->
                val r = frame.rgb[i * 3].toInt() and 0xff
                val g = frame.rgb[i * 3 + 1].toInt() and 0xff
                val b = frame.rgb[i * 3 + 2].toInt() and 0xff
                (0xff shl 24) or (r shl 16) or (g shl 8) or b
            }
            return Bitmap.createBitmap(argb, frame.width, frame.height, Bitmap.Config.ARGB_8888)
        }
    }
}

/**
 * H.264 in an MP4 with MediaCodec and MediaMuxer: RGB frames are converted to YUV 4:2:0 (BT.601, limited
 * range) and written through the codec's input Image, which describes whatever plane layout the device's
 * encoder uses.
 */
class VideoWriter(private val file: File, val width: Int, val height: Int, private val fps: Double) : AutoCloseable {
    private val codec: MediaCodec
    private val muxer = MediaMuxer(file.path, MediaMuxer.OutputFormat.MUXER_OUTPUT_MPEG_4)
    private var track = -1
    private var frameIndex = 0L
    private val bufferInfo = MediaCodec.BufferInfo()

    init {
        if (width % 2 != 0 || height % 2 != 0) throw TokenreelException("H.264 needs even sides, not ${width}x$height")
        val format = MediaFormat.createVideoFormat(MediaFormat.MIMETYPE_VIDEO_AVC, width, height)
        format.setInteger(MediaFormat.KEY_COLOR_FORMAT, MediaCodecInfo.CodecCapabilities.COLOR_FormatYUV420Flexible)
        format.setInteger(MediaFormat.KEY_BIT_RATE, Math.max(500_000, width * height * 8))
        format.setFloat(MediaFormat.KEY_FRAME_RATE, fps.toFloat())
        format.setInteger(MediaFormat.KEY_I_FRAME_INTERVAL, 1)
        codec = MediaCodec.createEncoderByType(MediaFormat.MIMETYPE_VIDEO_AVC)
        try {
            codec.configure(format, null, null, MediaCodec.CONFIGURE_FLAG_ENCODE)
        } catch (e: RuntimeException) {
            codec.release()
            muxer.release()
            throw TokenreelException("this phone's H.264 encoder refuses ${width}x$height (${e.message})")
        }
        codec.start()
    }

    fun write(frame: Frame) {
        require(frame.width == width && frame.height == height) { "frame ${frame.width}x${frame.height} in a ${width}x$height video" }
        val index = codec.dequeueInputBuffer(TIMEOUT_US * 100)
        if (index < 0) throw TokenreelException("the H.264 encoder is not taking frames")
        val image = codec.getInputImage(index) ?: throw TokenreelException("the H.264 encoder gives no input image")
        val (yPlane, uPlane, vPlane) = image.planes
        for (y in 0 until height) for (x in 0 until width) {
            val p = (y * width + x) * 3
            val r = frame.rgb[p].toInt() and 0xff
            val g = frame.rgb[p + 1].toInt() and 0xff
            val b = frame.rgb[p + 2].toInt() and 0xff
            yPlane.buffer.put(y * yPlane.rowStride + x * yPlane.pixelStride, (((66 * r + 129 * g + 25 * b + 128) shr 8) + 16).toByte())
            if (y % 2 == 0 && x % 2 == 0) {
                val u = ((-38 * r - 74 * g + 112 * b + 128) shr 8) + 128
                val v = ((112 * r - 94 * g - 18 * b + 128) shr 8) + 128
                uPlane.buffer.put((y / 2) * uPlane.rowStride + (x / 2) * uPlane.pixelStride, u.toByte())
                vPlane.buffer.put((y / 2) * vPlane.rowStride + (x / 2) * vPlane.pixelStride, v.toByte())
            }
        }
        val timeUs = (frameIndex * 1_000_000L / fps).toLong()
        codec.queueInputBuffer(index, 0, width * height * 3 / 2, timeUs, 0)
        frameIndex++
        drain(false)
    }

    private fun drain(endOfStream: Boolean) {
        while (true) {
            val index = codec.dequeueOutputBuffer(bufferInfo, TIMEOUT_US)
            when {
                index == MediaCodec.INFO_TRY_AGAIN_LATER -> if (!endOfStream) return
                index == MediaCodec.INFO_OUTPUT_FORMAT_CHANGED -> {
                    track = muxer.addTrack(codec.outputFormat)
                    muxer.start()
                }
                index >= 0 -> {
                    val data = codec.getOutputBuffer(index)!!
                    if (bufferInfo.flags and MediaCodec.BUFFER_FLAG_CODEC_CONFIG != 0) bufferInfo.size = 0  // in the format already
                    if (bufferInfo.size > 0 && track >= 0) muxer.writeSampleData(track, data, bufferInfo)
                    codec.releaseOutputBuffer(index, false)
                    if (bufferInfo.flags and MediaCodec.BUFFER_FLAG_END_OF_STREAM != 0) return
                }
            }
        }
    }

    /** Flush the encoder and finish the file. */
    fun finish() {
        val index = codec.dequeueInputBuffer(TIMEOUT_US * 100)
        if (index >= 0) codec.queueInputBuffer(index, 0, 0, (frameIndex * 1_000_000L / fps).toLong(), MediaCodec.BUFFER_FLAG_END_OF_STREAM)
        drain(true)
    }

    override fun close() {
        try { codec.stop() } catch (e: IllegalStateException) { }
        codec.release()
        try { if (track >= 0) muxer.stop() } catch (e: IllegalStateException) { }
        muxer.release()
    }

    companion object {
        private const val TIMEOUT_US = 10_000L

        /** Copy a finished MP4 into the gallery (Movies/tokenreel) through MediaStore; returns its content URI. */
        fun saveToGallery(context: Context, file: File, displayName: String): Uri {
            val resolver = context.contentResolver
            val values = ContentValues().apply {
                put(MediaStore.Video.Media.DISPLAY_NAME, displayName)
                put(MediaStore.Video.Media.MIME_TYPE, "video/mp4")
                put(MediaStore.Video.Media.RELATIVE_PATH, Environment.DIRECTORY_MOVIES + "/tokenreel")
                put(MediaStore.Video.Media.IS_PENDING, 1)
            }
            val uri = resolver.insert(MediaStore.Video.Media.getContentUri(MediaStore.VOLUME_EXTERNAL_PRIMARY), values)
                ?: throw TokenreelException("the gallery refused a new video")
            try {
                resolver.openOutputStream(uri)!!.use { out -> file.inputStream().use { it.copyTo(out) } }
                values.clear()
                values.put(MediaStore.Video.Media.IS_PENDING, 0)
                resolver.update(uri, values, null, null)
            } catch (e: Exception) {
                resolver.delete(uri, null, null)
                throw TokenreelException("could not save the video (${e.message})")
            }
            return uri
        }
    }
}

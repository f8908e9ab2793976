package tokenreel.demo

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import tokenreel.core.Artifact
import tokenreel.core.TokenreelException
import java.io.Closeable
import java.io.File
import java.nio.FloatBuffer
import java.nio.IntBuffer
import java.nio.LongBuffer

/** Where ONNX Runtime runs the graph (the settings screen's choice). */
enum class Provider { XNNPACK, NNAPI, QNN, CPU }

/**
 * One exported model: inputs in the manifest's order (FloatArray for float32, LongArray for int64), outputs
 * as float32 arrays in the manifest's order. Feeds are cast to the dtypes the manifest entry names, as
 * tokenreel/backends/exported.py does.
 */
interface Engine : Closeable {
    val artifact: Artifact
    fun run(inputs: List<Any>): List<FloatArray>
}

class OrtEngine(file: File, override val artifact: Artifact, provider: Provider, threads: Int) : Engine {
    private val env = OrtEnvironment.getEnvironment()
    private val options = OrtSession.SessionOptions()
    private val session: OrtSession

    init {
        try {
            when (provider) {
                Provider.XNNPACK -> {
                    // XNNPACK has its own thread pool: keep ORT's to one thread so the two do not compete
                    options.addXnnpack(mapOf("intra_op_num_threads" to threads.toString()))
                    options.setIntraOpNumThreads(1)
                    options.addConfigEntry("session.intra_op.allow_spinning", "0")
                }
                Provider.NNAPI -> options.addNnapi()
                Provider.QNN -> options.addQnn(mapOf("backend_path" to "libQnnHtp.so"))
                Provider.CPU -> options.setIntraOpNumThreads(threads)
            }
            session = env.createSession(file.path, options)
        } catch (e: OrtException) {
            options.close()
            throw TokenreelException("ONNX Runtime cannot run ${artifact.file} with $provider (${e.message}); " +
                "choose another execution provider in Settings" +
                if (provider == Provider.QNN) " or build with onnxruntime-android-qnn" else "")
        }
    }

    override fun run(inputs: List<Any>): List<FloatArray> {
        val specs = artifact.inputs
        val tensors = LinkedHashMap<String, OnnxTensor>()
        try {
            for ((spec, value) in specs.zip(inputs)) {
                val shape = spec.shape.map { it.toLong() }.toLongArray()
                tensors[spec.name] = when (spec.dtype) {
                    "float32" -> OnnxTensor.createTensor(env, FloatBuffer.wrap(value as FloatArray), shape)
                    "int64" -> OnnxTensor.createTensor(env, LongBuffer.wrap(value as LongArray), shape)
                    "int32" -> OnnxTensor.createTensor(env, IntBuffer.wrap((value as LongArray).map { it.toInt() }.toIntArray()), shape)
                    else -> throw TokenreelException("${artifact.file}: input ${spec.name} is ${spec.dtype}; this app feeds float32 and integer inputs")
                }
            }
            session.run(tensors).use { result ->
                return artifact.outputs.map { spec ->
                    val tensor = result.get(spec.name).orElseThrow { TokenreelException("${artifact.file} gave no ${spec.name}") } as OnnxTensor
                    val buffer = tensor.floatBuffer
                    FloatArray(buffer.remaining()).also { buffer.get(it) }
                }
            }
        } finally {
            tensors.values.forEach { it.close() }
        }
    }

    override fun close() {
        session.close()
        options.close()
    }
}

class ExecutorchEngine(file: File, override val artifact: Artifact) : Engine {
    private val module: Module

    init {
        val half = artifact.inputs.firstOrNull { it.dtype == "float16" }
        if (half != null) {
            throw TokenreelException("${artifact.file} takes float16 inputs, which ExecuTorch's Java API does not " +
                "make; use the fp32 or int8 ExecuTorch export")
        }
        module = Module.load(file.path)
    }

    override fun run(inputs: List<Any>): List<FloatArray> {
        val values = artifact.inputs.zip(inputs).map { (spec, value) ->
            val shape = spec.shape.map { it.toLong() }.toLongArray()
            EValue.from(when (value) {
                is FloatArray -> Tensor.fromBlob(value, shape)
                is LongArray -> if (spec.dtype == "int32") Tensor.fromBlob(value.map { it.toInt() }.toIntArray(), shape) else Tensor.fromBlob(value, shape)
                else -> throw IllegalArgumentException("unsupported input ${value.javaClass}")
            })
        }
        return module.forward(*values.toTypedArray()).map { it.toTensor().dataAsFloatArray }
    }

    override fun close() = module.destroy()
}

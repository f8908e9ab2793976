package tokenreel.demo

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.ProgressBar
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import android.widget.Toast
import android.widget.VideoView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import tokenreel.core.Edit
import tokenreel.core.Manifest
import tokenreel.core.TokenreelException
import java.io.File

/**
 * One screen: pick a video, choose reframe (aspect) or extend (frames), run with a progress bar, watch the
 * result loop, save it to the gallery. The models come from the export bundled in assets/models.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var models: TextView
    private lateinit var source: TextView
    private lateinit var mode: RadioGroup
    private lateinit var aspect: Spinner
    private lateinit var extendFrames: EditText
    private lateinit var run: Button
    private lateinit var stage: TextView
    private lateinit var progress: ProgressBar
    private lateinit var player: VideoView
    private lateinit var summary: TextView
    private lateinit var save: Button

    private var manifest: Manifest? = null
    private var picked: Uri? = null
    private var result: File? = null
    private var running = false

    private val pickVideo = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri -> if (uri != null) onPicked(uri) }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        models = findViewById(R.id.models)
        source = findViewById(R.id.source)
        mode = findViewById(R.id.mode)
        aspect = findViewById(R.id.aspect)
        extendFrames = findViewById(R.id.extend_frames)
        run = findViewById(R.id.run)
        stage = findViewById(R.id.stage)
        progress = findViewById(R.id.progress)
        player = findViewById(R.id.player)
        summary = findViewById(R.id.summary)
        save = findViewById(R.id.save)

        findViewById<Button>(R.id.pick).setOnClickListener {
            pickVideo.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.VideoOnly))
        }
        findViewById<Button>(R.id.settings).setOnClickListener { startActivity(Intent(this, SettingsActivity::class.java)) }
        mode.setOnCheckedChangeListener { _, checked ->
            findViewById<View>(R.id.reframe_options).visibility = if (checked == R.id.mode_reframe) View.VISIBLE else View.GONE
            findViewById<View>(R.id.extend_options).visibility = if (checked == R.id.mode_extend) View.VISIBLE else View.GONE
        }
        run.setOnClickListener { startEdit() }
        save.setOnClickListener { saveResult() }
        player.setOnPreparedListener { it.isLooping = true; player.start() }
        loadModels()
    }

    override fun onResume() {
        super.onResume()
        describeModels()       // the settings may have changed
    }

    private fun loadModels() {
        models.text = "Loading models…"
        lifecycleScope.launch {
            try {
                manifest = withContext(Dispatchers.IO) { ModelStore.install(applicationContext) }
                describeModels()
            } catch (e: TokenreelException) {
                models.text = e.message
            }
            updateRunEnabled()
        }
    }

    private fun describeModels() {
        val m = manifest ?: return
        val s = Settings(this)
        val g = m.geometry
        val engine = if (s.format == "executorch") "ExecuTorch (XNNPACK)" else "ONNX Runtime, ${s.provider}"
        models.text = "${m.tokenizerId}: ${g.frameSize[0]}x${g.frameSize[1]} frames, window " +
            (g.window?.joinToString("x") ?: "none") + "; $engine, ${s.precision}, ${s.sampler}, " +
            "${Edit.checkSampler(s.sampler, s.steps)} steps"
    }

    private fun onPicked(uri: Uri) {
        picked = uri
        lifecycleScope.launch {
            source.text = try {
                val info = withContext(Dispatchers.IO) { VideoReader(applicationContext, uri).use { it.info } }
                String.format("%dx%d, %d frames at %.1f fps (the first %d are edited)", info.width, info.height,
                    info.frameCount, info.fps, Math.min(info.frameCount, Settings(this@MainActivity).maxFrames))
            } catch (e: TokenreelException) {
                picked = null
                e.message
            }
            updateRunEnabled()
        }
    }

    private fun updateRunEnabled() {
        run.isEnabled = !running && manifest != null && picked != null
    }

    private fun request(): EditRequest? = if (mode.checkedRadioButtonId == R.id.mode_reframe) {
        EditRequest.Reframe(aspect.selectedItem as String)
    } else {
        val n = extendFrames.text.toString().toIntOrNull()
        if (n == null || n <= 0) { extendFrames.error = "a number of frames"; null } else EditRequest.Extend(n)
    }

    private fun startEdit() {
        val uri = picked ?: return
        val m = manifest ?: return
        val req = request() ?: return
        running = true
        updateRunEnabled()
        save.isEnabled = false
        player.stopPlayback()
        player.visibility = View.GONE
        summary.text = ""
        progress.visibility = View.VISIBLE
        progress.progress = 0
        lifecycleScope.launch {
            try {
                val outcome = withContext(Dispatchers.Default) {
                    EditRunner(applicationContext, m, Settings(this@MainActivity)).run(uri, req) { name, fraction ->
                        runOnUiThread {
                            stage.text = name
                            progress.progress = (fraction * 1000).toInt()
                        }
                    }
                }
                result = outcome.video
                stage.text = "Done"
                summary.text = outcome.summary
                player.visibility = View.VISIBLE
                player.setVideoURI(Uri.fromFile(outcome.video))
                save.isEnabled = true
            } catch (e: TokenreelException) {
                stage.text = e.message
            } catch (e: Exception) {          // an engine failure: show it rather than crash
                stage.text = "Failed: ${e.javaClass.simpleName}: ${e.message}"
            } finally {
                running = false
                progress.visibility = View.INVISIBLE
                updateRunEnabled()
            }
        }
    }

    private fun saveResult() {
        val video = result ?: return
        save.isEnabled = false
        lifecycleScope.launch {
            try {
                withContext(Dispatchers.IO) { VideoWriter.saveToGallery(applicationContext, video, "tokenreel-${System.currentTimeMillis()}.mp4") }
                Toast.makeText(this@MainActivity, R.string.saved, Toast.LENGTH_LONG).show()
            } catch (e: TokenreelException) {
                Toast.makeText(this@MainActivity, e.message, Toast.LENGTH_LONG).show()
                save.isEnabled = true
            }
        }
    }
}

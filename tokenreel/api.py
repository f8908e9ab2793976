"""The tokenreel Python API (docs/api.md): encode a video into a token clip, edit it in token space, save it
as a `.trl`, render pixels only when pixels are wanted. No torch: the models run on any backend
(`Editor`), and the token-file operations (crop, trim, cat) need no model at all.

    import tokenreel
    editor = tokenreel.Editor(backend="onnx", models="build", precision="int8")
    clip = editor.encode("holiday.mp4", size=128)
    clip.reframe("9:16", seed=0).render("holiday-9x16.mp4")
    tokenreel.load("holiday.trl").trim(start=1).crop(width=128).save("short.trl")

Modules that need PyAV, ONNX Runtime or the models are imported on first use, so `import tokenreel` stays
light. Errors are one-line `UserError`s (tokenreel.errors), as the command line prints them.
"""
import math

import numpy as np

from .errors import UserError
from .precisions import PHONE

PIXELS_PER_TOKEN = 8      # docs/trl-format.md: a header's size is (8 W, 8 H) for a grid (T, H, W)
FRAMES_PER_LATENT = 4     # the first latent frame holds one frame, every later one the next four
DEFAULT_SIZE = 128        # short side in pixels when encoding
FILE_FIELDS = ("grid", "coder", "planes_crc32")     # trl.pack derives these from the grid it writes
FITS = ("outpaint", "crop")


class Editor:
    """The models that encode, edit and render clips: a tokenizer (video <-> tokens) and a masked transformer
    (reframe, extend), each loaded on first use.

    backend: "onnx", "executorch" or "coreml" run an export folder (`tokenreel export -o DIR`) given as
    `models`; without one, the shipped weights are exported once into the cache (that one time needs torch).
    "torch" runs the PyTorch server model (`tokenizer_weights` / `transformer_weights`, default: shipped).
    precision: which exported precision to run ("fp32", "int8", ...). quiet=False: show progress bars.
    tokenizer / transformer: ready backend objects (runtime/backend.py, runtime/edit.py protocols) to use
    instead of loading them."""

    def __init__(self, backend="onnx", models=None, precision=PHONE, *, tokenizer_weights=None,
                 transformer_weights=None, quiet=True, tokenizer=None, transformer=None):
        self.backend, self.models, self.precision = backend, models, precision
        self.tokenizer_weights, self.transformer_weights = tokenizer_weights, transformer_weights
        self.quiet = quiet
        self._tokenizer, self._transformer = tokenizer, transformer

    def __repr__(self):
        return f"Editor(backend={self.backend!r}, models={self.models!r}, precision={self.precision!r})"

    def _models(self):
        """The export folder, exporting the shipped weights into the cache when none was given."""
        if self.backend != "torch" and self.models is None:
            from .cache import cached_models
            self.models, _ = cached_models(self.backend, self.precision, quiet=self.quiet)
        return self.models

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from .backends import tokenizer_backend
            self._tokenizer = tokenizer_backend(self.backend, self.tokenizer_weights, self._models(),
                                                self.precision)
        return self._tokenizer

    @property
    def transformer(self):
        if self._transformer is None:
            from .backends import transformer_backend
            self._transformer = transformer_backend(self.backend, self.transformer_weights, self.tokenizer,
                                                    self._models(), self.precision)
        return self._transformer

    def encode(self, video, size=DEFAULT_SIZE, frames=None):
        """Encode a video into a Clip, streaming: a video file, a folder of frames, "-" (a container piped on
        stdin) or a capture device "FORMAT:SPEC" (e.g. "v4l2:/dev/video0", "lavfi:testsrc=size=224x128:
        rate=25:duration=2"). The short side is scaled to `size` pixels (an export made for one frame size
        gets the clip scaled to cover it and centre-cropped); `frames`: only the first this many. Rendering
        an edit of the clip keeps the source's own pixels, read again from the file (a pipe or a device
        cannot be read again: its clip's renders decode every pixel)."""
        from .runtime.file_ops import encode_video
        from .runtime.video import is_live, short_name, source_name
        if frames is not None and frames < 1:
            raise UserError(f"frames {frames}: encode at least 1 frame")
        with self._bar(f"encode {short_name(video)}", "frame") as bar:
            tokens, header = encode_video(self.tokenizer, video, size, max_frames=frames, progress=bar.update)
        source = None if is_live(video) else (str(video), size, frames)
        return Clip(tokens, header, self, name=source_name(video), source=source)

    def load(self, path):
        """A .trl file as a Clip, checked against this editor's tokenizer (the weights that made it)."""
        clip = load(path, self)
        clip._editor()
        return clip

    def _bar(self, desc, unit="call", total=None):
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit=unit, disable=self.quiet, leave=False)


_default = None


def default_editor():
    """The Editor that clips made without one use: `Editor()` (ONNX Runtime, int8, the shipped weights)."""
    global _default
    if _default is None:
        _default = Editor()
    return _default


def encode(video, size=DEFAULT_SIZE, frames=None, editor=None):
    """Encode a video into a Clip with `editor` (default: default_editor()); see Editor.encode."""
    return (editor or default_editor()).encode(video, size, frames)


def load(path, editor=None):
    """Read a .trl file into a Clip (no model). Edits and rendering use `editor`, default_editor() if None."""
    from .runtime import trl
    tokens, header = trl.read(path)
    return Clip(tokens, header, editor, name=str(path))


def cat(*clips):
    """Concatenate clips at latent-frame boundaries (no model); see Clip.cat."""
    if not clips:
        raise UserError("cat: give at least one clip")
    return clips[0].cat(*clips[1:])


def frames_of_latents(latent_frames):
    """Frames a grid of this many latent frames decodes to: 1, then FRAMES_PER_LATENT per later one."""
    return 1 + FRAMES_PER_LATENT * (latent_frames - 1)


class Clip:
    """A token clip: a grid of tokens (T latent frames x H x W, int32) and its .trl header.

    Token-space operations return new clips and never decode: `crop`, `trim`, `cat` need no model,
    `reframe` and `extend` run the transformer. `save` writes a .trl; `frames` and `render` decode."""

    def __init__(self, tokens, header, editor=None, *, name="clip", origin=None, source=None, parent=None,
                 draft=None, calls=0, plan=None):
        self.tokens = np.array(tokens, dtype=np.int32)        # a copy: a clip never changes
        self.tokens.setflags(write=False)
        if self.tokens.ndim != 3 or 0 in self.tokens.shape:
            raise UserError(f"{name}: tokens must be a non-empty (T, H, W) grid, not {self.tokens.shape}")
        self.header = {k: v for k, v in header.items() if k not in FILE_FIELDS}
        self.editor, self.name = editor, name       # name: what it is, for messages ("holiday.trl, trimmed")
        self.origin = name if origin is None else origin     # the file it came from, never written over
        self.parent = parent        # the clip this one was edited from (None: encoded or loaded)
        self.draft = draft          # the revise sampler's start, a Clip rendered like this one (or None)
        self.calls = calls          # transformer calls the edit made
        self._source = source       # (video, size, frames) this clip was encoded from, for keep-source renders
        self._plan = plan           # (tokenizer, tokens, keep_source) -> frames; None: decode the grid

    # ------------------------------------------------------------ what it is
    @property
    def grid(self):
        """(T, H, W): latent frames, token rows, token columns."""
        return self.tokens.shape

    @property
    def frame_count(self):
        return self.header["frames"]

    @property
    def fps(self):
        return self.header["fps"]

    @property
    def size(self):
        """(width, height) in pixels."""
        return tuple(self.header["size"])

    @property
    def seconds(self):
        return self.frame_count / self.fps

    def __repr__(self):
        T, H, W = self.grid
        return (f"Clip({self.name}: {T}x{H}x{W} tokens, {self.frame_count} frames at "
                f"{self.size[0]}x{self.size[1]}, {self.fps:g} fps)")

    def _derived(self, tokens, what, *, frames=None, **kw):
        """A clip made from this one by the edit `what`: same header but for the grid's size and `frames`."""
        T, H, W = np.shape(tokens)
        header = dict(self.header, size=[W * PIXELS_PER_TOKEN, H * PIXELS_PER_TOKEN],
                      frames=self.frame_count if frames is None else frames)
        return Clip(tokens, header, self.editor, name=f"{self.name}, {what}", origin=self.origin, parent=self, **kw)

    def _editor(self):
        """The editor that runs this clip's models, once it is known to hold this tokenizer's tokens."""
        from .runtime.file_ops import check_tokenizer
        editor = self.editor or default_editor()
        check_tokenizer(self.header, editor.tokenizer, self.name)
        return editor

    # ------------------------------------------------------------ no model
    def save(self, path, coder=None):
        """Write a .trl file atomically (whole or not at all) -> bytes written. coder: "zstd", "ans-ctx" or
        None (the smaller)."""
        from .runtime import trl
        from .runtime.video import ensure_writable
        ensure_writable(path, [], ["tokens"])
        return trl.write(path, self.tokens, self.header, coder)

    def crop(self, left=0, top=0, width=None, height=None):
        """Crop to a box in pixels (default: to the right and bottom edges), at token boundaries: each side
        is rounded to the nearest multiple of PIXELS_PER_TOKEN. Lossless in token space; decoded, the pixels
        next to a cut side differ a little (the decoder sees the border there)."""
        w, h = self.size
        width = w - left if width is None else width
        height = h - top if height is None else height
        x0, y0 = _nearest(left, PIXELS_PER_TOKEN), _nearest(top, PIXELS_PER_TOKEN)
        x1, y1 = _nearest(left + width, PIXELS_PER_TOKEN), _nearest(top + height, PIXELS_PER_TOKEN)
        T, H, W = self.grid
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise UserError(f"crop: the box {width}x{height} at ({left}, {top}) px is not inside the {w}x{h} px "
                            f"frame, or narrower than a token ({PIXELS_PER_TOKEN} px)")
        return self._derived(self.tokens[:, y0:y1, x0:x1], "cropped")

    def trim(self, start=0.0, end=None):
        """Keep the part from `start` to `end` seconds (end None: to the end), cut at latent-frame
        boundaries: the kept part starts at a frame 4k (the nearest to `start`; a latent frame decoded
        first gives its group's last frame) and ends after a frame 4k (the nearest to `end`). The frames
        after a start cut decode a little differently until the decoder's state settles (docs/api.md)."""
        T = self.grid[0]
        first_frame, last_frame = round(start * self.fps), None if end is None else round(end * self.fps) - 1
        s = _nearest(first_frame, FRAMES_PER_LATENT)
        e = T - 1 if last_frame is None else min(T - 1, _nearest(last_frame, FRAMES_PER_LATENT))
        if start < 0 or s > T - 1 or e < s:
            raise UserError(f"trim: {start:g} s to {'the end' if end is None else f'{end:g} s'} keeps no latent "
                            f"frame of the {self.seconds:.2f} s clip (it cuts at every "
                            f"{FRAMES_PER_LATENT} frames, {FRAMES_PER_LATENT / self.fps:.3f} s)")
        frames = max(1, min(self.frame_count, FRAMES_PER_LATENT * e + 1) - FRAMES_PER_LATENT * s)
        return self._derived(self.tokens[s:e + 1], "trimmed", frames=frames)

    def cat(self, *others):
        """This clip, then `others`, at latent-frame boundaries (no model). All must come from the same
        tokenizer, at the same size and fps. Each later clip's first latent frame (one frame, encoded
        alone) becomes a group of four, and an earlier clip's padding frames stay in (docs/api.md)."""
        clips = (self,) + others
        for i, c in enumerate(others, 2):
            for what, mine, theirs in (("tokenizer", self.header["tokenizer_sha256"], c.header["tokenizer_sha256"]),
                                       ("bits", self.header["bits"], c.header["bits"]),
                                       ("size", "x".join(map(str, self.size)), "x".join(map(str, c.size)))):
                if mine != theirs:
                    raise UserError(f"cat: clip {i} ({c.name}) has {what} {theirs}, clip 1 ({self.name}) {mine}; "
                                    f"concatenate clips of one tokenizer and size")
            if not math.isclose(c.fps, self.fps, rel_tol=1e-6):
                raise UserError(f"cat: clip {i} ({c.name}) runs at {c.fps:g} fps, clip 1 ({self.name}) at "
                                f"{self.fps:g}; concatenate clips of one frame rate")
        last = clips[-1]
        tokens = np.concatenate([c.tokens for c in clips])
        padding = frames_of_latents(last.grid[0]) - last.frame_count      # the last clip's repeated last frames
        return self._derived(tokens, "joined", frames=frames_of_latents(len(tokens)) - padding)

    # ------------------------------------------------------------ edits with the transformer
    def reframe(self, aspect, fit="outpaint", seed=0, steps=None, sampler="revise"):
        """Change the aspect ratio W:H ("9:16") in token space. fit "outpaint": keep the whole picture and
        generate the margins (the transformer); "crop": centre-crop (no model)."""
        from .runtime.edit import check_sampler, parse_aspect, reframe_crop, reframe_outpaint
        parse_aspect(aspect)
        if fit not in FITS:
            raise UserError(f"fit {fit!r}: choose one of {', '.join(FITS)}")
        if fit == "crop":
            return self._derived(reframe_crop(self.tokens, aspect), f"cropped to {aspect}")
        check_sampler(sampler, steps)
        editor = self._editor()
        # only revise starts from a draft: maskgit's clip has none (no source read, no canvas encoded)
        draft_tokens = self._outpaint_draft(editor.tokenizer, aspect) if sampler == "revise" else None
        with editor._bar("reframe") as bar:
            canvas, calls = reframe_outpaint(editor.transformer, self.tokens, aspect, steps, seed, bar.update,
                                             sampler, draft=draft_tokens)
        draft = None if draft_tokens is None else self._derived(draft_tokens, f"{aspect} draft", plan=self._reframed)
        return self._derived(canvas, f"reframed {aspect}", draft=draft, calls=calls, plan=self._reframed)

    def _outpaint_draft(self, tokenizer, aspect):
        """The reframe's draft: this clip's pixels (the source's own, else decoded), their edges replicated
        into the margins, and encoded (edit.outpaint_pixel_draft); the source's tokens mirrored
        (edit.outpaint_draft) where the clip is smaller than an exported tokenizer's frame size and so
        cannot be decoded."""
        from .runtime.edit import outpaint_draft, outpaint_pixel_draft
        from .runtime.tokenizing import decode_tokens
        fixed = getattr(tokenizer, "frame_size", None)
        T, H, W = self.grid
        if fixed is not None and (W * tokenizer.spatial < fixed[0] or H * tokenizer.spatial < fixed[1]):
            return outpaint_draft(self.tokens, aspect)
        frames = self._source_frames(tokenizer) or decode_tokens(tokenizer, self.tokens, self.frame_count)
        return outpaint_pixel_draft(tokenizer, frames, self.grid, aspect)

    def _reframed(self, tokenizer, canvas, keep_source):
        from .runtime.file_ops import reframed_video
        return reframed_video(tokenizer, canvas, self.grid, self.frame_count,
                              self._source_frames(tokenizer) if keep_source else None)

    def extend(self, seconds=None, frames=None, seed=0, steps=None, sampler="revise"):
        """Continue the clip in time by `seconds` (or by `frames` frames) with the transformer."""
        from .runtime.edit import MAX_EXTEND_FRAMES, check_sampler, extend, extend_draft
        if (seconds is None) == (frames is None):
            raise UserError("extend: give seconds or frames (one of them)")
        if seconds is not None:
            if not 0 < seconds <= MAX_EXTEND_FRAMES / self.fps:
                raise UserError(f"extend: {seconds:g} s; choose more than 0 and at most "
                                f"{MAX_EXTEND_FRAMES / self.fps:g} s")
            frames = max(1, round(seconds * self.fps))
        check_sampler(sampler, steps)
        editor = self._editor()
        group = editor.tokenizer.group
        with editor._bar("extend") as bar:
            grid, calls = extend(editor.transformer, self.tokens, frames, steps, seed, group=group,
                                 progress=bar.update, sampler=sampler)
        padded = 1 + group * (self.grid[0] - 1)      # the source's frames, with its last group filled
        total = padded + frames
        draft_tokens = extend_draft(self.tokens, frames, group)

        def plan(tokenizer, tokens, keep_source):
            from .runtime.file_ops import extended_video
            return extended_video(tokenizer, tokens, self.frame_count, padded, total,
                                  self._source_frames(tokenizer) if keep_source else None, draft_tokens)
        draft = self._derived(draft_tokens, f"+{frames} frames draft", frames=total, plan=plan)
        return self._derived(grid, f"extended +{frames} frames", frames=total, draft=draft, calls=calls, plan=plan)

    # ------------------------------------------------------------ pixels
    def source_frames(self):
        """The frames this clip was encoded from, as the encoder took them (read again), or None: a loaded
        or edited clip has none."""
        return self._source_frames(self._editor().tokenizer)

    def _source_frames(self, tokenizer):
        if self._source is None:
            return None
        from .runtime.file_ops import source_frames
        return source_frames(tokenizer, *self._source)

    def frames(self, keep_source=True):
        """Decode: an iterator of uint8 (H, W, 3) RGB frames. keep_source: where a reframe or extend of a
        clip encoded from a video kept the source, its own pixels (the generated part blended in) instead
        of decoded ones."""
        editor = self._editor()
        if self._plan is None:
            from .runtime.tokenizing import decode_tokens
            frames = decode_tokens(editor.tokenizer, self.tokens, self.frame_count)
        else:
            frames = self._plan(editor.tokenizer, self.tokens, keep_source)
        return _counted(frames, editor._bar("decode", "frame", self.frame_count))

    def render(self, path, keep_source=True):
        """Decode into an H.264 MP4 file, written atomically -> frames written (see `frames`)."""
        from .runtime.video import ensure_writable, write_video
        ensure_writable(path, [self.origin], ["video"])
        return write_video(path, self.frames(keep_source), self.fps)

    def preview(self, path, label="edited", keep_source=True):
        """A side-by-side PNG, a row each of evenly spaced frames: the clip it was edited from, the draft
        its sampler started from (if any), and this clip (`label`)."""
        from .runtime.preview import side_by_side
        from .runtime.video import ensure_writable
        ensure_writable(path, [], ["picture"])
        rows = []
        if self.parent is not None:
            parent = self.parent
            source = parent.source_frames() if keep_source else None
            rows.append(("source", list(source if source is not None else parent.frames(keep_source))))
        if self.draft is not None:
            rows.append(("draft", list(self.draft.frames(keep_source))))
        rows.append((label, list(self.frames(keep_source))))
        side_by_side(rows, path)


def _nearest(value, step):
    """The nearest multiple of `step`, counted in steps; halves round up (round() would go to even)."""
    return math.floor(value / step + 0.5)


def _counted(frames, bar):
    """Yield `frames`, counting them on the progress bar `bar` (closed at the end)."""
    with bar:
        for f in frames:
            bar.update(1)
            yield f

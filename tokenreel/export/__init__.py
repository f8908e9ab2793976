"""Exports of the server models to ONNX, Core ML and ExecuTorch (issue: phone-ready graphs and a manifest).

Not built yet: this package reserves the name so the layout is stable for the export work."""

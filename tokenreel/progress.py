"""The one progress convention: a library function takes `progress`, None or a callable called with the
number of units just done (as a tqdm bar's `update` is called). Whoever shows a bar owns it: the CLI, and
the layers that draw their own and take `quiet` instead (the API's Editor, export, verify, bench, data pack,
the demo)."""


def counted(items, progress):
    """Yield `items`, reporting each to `progress` once the caller is done with it (as iterating a tqdm bar
    counts)."""
    for item in items:
        yield item
        if progress:
            progress(1)

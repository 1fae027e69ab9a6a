#!/bin/sh
# Run by `bentoml containerize` while the image is built (bentofile.yaml docker.setup_script):
# one path for jemalloc on every architecture, so LD_PRELOAD can name it.
set -eu
ln -sf "$(ls /usr/lib/*/libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2

#!/usr/bin/env bash
# The peer virtualenv of `fastload bench`: torchvision and torchaudio pin their own torch
# (2.9.1 here, the main environment has 2.13), so their rows run in this venv's python:
#   bash benchmarks/peer-venv.sh /opt/venv-peers
#   python -m fastload bench all --peer-python /opt/venv-peers/bin/python
# (or FASTLOAD_BENCH_PEER_PYTHON=/opt/venv-peers/bin/python). About 3 GB (CUDA wheels,
# unused: every peer row runs on the CPU).
# SPDL 0.8 decodes with FFmpeg's shared libraries: Debian 12's FFmpeg 5.1 below.
set -euo pipefail
venv="${1:-/opt/venv-peers}"
if command -v apt-get >/dev/null && ! dpkg -s libavdevice59 >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq libavutil57 libavcodec59 libavformat59 \
        libavfilter8 libswscale6 libswresample4 libavdevice59
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.9.1 torchaudio==2.9.1 torchvision==0.24.1 spdl==0.8.0 \
    numpy pillow soundfile
"$venv/bin/python" -c "import torch, torchvision, torchaudio, spdl.io
print('peer venv:', torch.__version__, torchvision.__version__, torchaudio.__version__)"

#!/usr/bin/env bash
# A torchvision for NNI's mnist-pytorch example. PyPI's torchvision wheels are CUDA builds that do not
# load against the CPU torch installed here, so where the virtualenv's own torchvision fails to import
# the test runs that one trial with Debian's python3-torchvision (CPU torch and torchvision built together).
set -euo pipefail
python -c "import torchvision" >/dev/null 2>&1 && exit 0
/usr/bin/python3 -c "import torch, torchvision" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "no loadable torchvision: run 'apt-get install -y python3-torchvision' as root (the mnist-pytorch example test will be skipped)" >&2
  exit 0
fi
apt-get install -y -q --no-install-recommends python3-torchvision >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends python3-torchvision >/dev/null
}

"""benchmarks/gpu_check.py runs on a GPU machine that has only torch, torchvision, numpy, Pillow, safetensors and
onnxruntime: nothing it imports may need more, and without CUDA it says so in one line."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent
ABSENT = ("albumentations", "gradio", "cv2", "tensorboard", "tqdm", "onnx", "onnxscript", "torch_fidelity",
          "onnxconverter_common", "pytest")
BLOCK = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in ABSENT)  # importing them fails


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=180,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}, cwd=REPO)


def test_everything_it_uses_imports_without_the_missing_packages():
    done = _run("import translate.training.cyclegan, translate.training.pix2pix, translate.training.srgan\n"
                "import translate.training.loop, translate.inference, translate.onnx, translate.zoo\n"
                "import translate.data.io, translate.data.resize, translate.device\n"
                "import runpy; runpy.run_path('benchmarks/gpu_check.py')\n")
    assert done.returncode == 0, done.stderr[-2000:]


def test_without_cuda_it_says_so_in_one_line():
    done = _run("import runpy, torch\n"
                "torch.cuda.is_available = lambda: False\n"
                "sys.argv = ['gpu_check.py']\n"
                "runpy.run_path('benchmarks/gpu_check.py', run_name='__main__')\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("gpu_check: no CUDA device here") and done.stdout.count("\n") == 1, done.stdout

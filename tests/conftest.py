import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "datasets" / "samples"

sys.path.insert(0, str(TESTS))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run wherever CUDA is present and are skipped (never deselected) elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_addoption(parser):
    parser.addoption("--screenshots", metavar="DIR", help="browser tests: keep a screenshot of each tab in DIR")


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """Where browser tests save screenshots: --screenshots DIR, or a temporary folder."""
    chosen = request.config.getoption("--screenshots")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

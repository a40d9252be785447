"""The web app's handlers, called directly: right sizes and modes out, errors as clear messages."""

import platform
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_generator, tiny_sr, tiny_translator
from PIL import Image

from translate.app_limits import AppLimits
from translate.errors import UserError
from translate.web_ui import Shelf, Upload, _examples


@pytest.fixture
def shelf(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_translator(folder / "style_A2B.safetensors", ("photos", "vangogh"))
    tiny_translator(folder / "style_B2A.safetensors", ("vangogh", "photos"))
    tiny_sr(folder / "sr_x2.safetensors")
    tiny_generator(folder / "digits.safetensors", labels=tuple("0123456789"))
    (folder / "digits.md").write_text("# Digits\nA card.")
    (folder / "broken.safetensors").write_bytes(b"junk")
    return Shelf([folder], device="cpu")


def _upload(tmp_path, name, size=(30, 20), mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(2) if channels == 1 else array, mode).save(tmp_path / name)
    return Upload(str(tmp_path / name), name)


def test_models_are_sorted_into_tabs(shelf):
    assert shelf.choices("translation") == ["photos → vangogh (style_A2B)", "vangogh → photos (style_B2A)"]
    assert shelf.choices("super-resolution") == ["x2 (sr_x2)"]
    assert shelf.choices("generation") == ["digits"]
    assert "broken.safetensors" in shelf.unreadable()
    assert "A card." in shelf.model_details(*shelf.groups()[0][1:])


@pytest.mark.parametrize("mode, shape", [("RGB", (20, 30, 3)), ("L", (20, 30)), ("RGBA", (20, 30, 4))])
def test_style_keeps_size_and_look(shelf, tmp_path, mode, shape):
    out = shelf.style(_upload(tmp_path, f"x.{mode}.png", mode=mode), "photos → vangogh (style_A2B)")
    assert out.shape == shape and out.dtype == np.uint8


def test_super_resolution_slider_pair(shelf, tmp_path):
    (before, after), size = shelf.super_resolve(_upload(tmp_path, "a.png"), "x2 (sr_x2)")
    assert before.shape == after.shape == (40, 60, 3) and before.dtype == after.dtype == np.uint8
    assert size.startswith("30×20 → 60×40")
    (gray_before, gray_after), _ = shelf.super_resolve(_upload(tmp_path, "g.png", mode="L"), "x2 (sr_x2)")
    assert gray_before.shape == gray_after.shape == (40, 60)


def test_images_over_the_limits_are_scaled_down_with_a_note(shelf, tmp_path):
    """The app scales an image over its limit down to it (aspect kept) and says so; the command line keeps
    full size. The limits are the translate-app flags'."""
    small = Shelf(shelf.folders, device="cpu", limits=AppLimits(max_mp=0.0006, max_sr_mp=0.0002))
    notes = []
    decoded, out = small.style_output(_upload(tmp_path, "big.png", size=(60, 40)), "photos → vangogh (style_A2B)",
                                      note=notes.append)
    assert decoded.size == (30, 20) and out.pixels.shape == (20, 30, 3)
    assert notes == ["note: big.png: 60x40 (0.0024 MP) scaled down to 30x20, the limit of 0.0006 MP here"]
    notes.clear()
    before, out, size = small.super_resolve_output(_upload(tmp_path, "b.png", size=(40, 20)), "x2 (sr_x2)",
                                                   note=notes.append)
    assert before.shape[:2] == out.pixels.shape[:2] == (20, 40) and size.startswith("20×10 → 40×20")
    assert notes[0].startswith("note: b.png: 40x20 (0.0008 MP) scaled down to 20x10")
    _, log = small.batch([_upload(tmp_path, "c.png", size=(60, 40))], "photos → vangogh (style_A2B)")
    assert log.splitlines() == ["note: c.png: 60x40 (0.0024 MP) scaled down to 30x20, the limit of 0.0006 MP here",
                                "1 written, 0 skipped, 0 failed"]
    small.style_output(_upload(tmp_path, "fits.png", size=(30, 20)), "photos → vangogh (style_A2B)",
                       note=notes.append)
    assert len(notes) == 1  # an image within the limit: no note
    assert AppLimits().image_line() == ("Images up to 4 MP; larger ones are scaled down to 4 MP (the `translate` "
                                        "command keeps full size).")
    with pytest.raises(UserError, match="--max-sr-mp must be a positive number"):
        AppLimits(max_sr_mp=0)


def test_generate_grid_and_strip(shelf):
    grid, strip = shelf.generate("digits", 3, "every class", 20)
    assert grid.ndim == 3 and grid.shape[1] == 10 * 64 + 11 * 8  # one column per class, 64-pixel cells
    # every class: the strip is drawn once per class (it was ten strips of class 0's worth: one row, class 0)
    assert strip.shape[:2] == (10 * 64 + 11 * 8, 8 * 64 + 9 * 8)
    one_class, one_strip = shelf.generate("digits", 3, "7", 4)
    assert one_class.shape[1] == 2 * 64 + 3 * 8 and one_strip.shape[0] == 64 + 2 * 8
    assert np.array_equal(shelf.generate("digits", 3, "", 4)[1], strip)  # an empty class means every class


def test_models_page_is_a_table_with_a_panel_per_card(shelf):
    """A row and a panel per model, a pair of translators sharing its card's; the card's "Trained on" and
    "Headline" lines fill the table; specs read as words, not Python dicts; card headings sit below the tab's."""
    (shelf.entries[0].path.parent / "style.md").write_text(
        "# Style\nThe pair's card.\n\n- **Trained on**: two paintings\n  and a photo.\n- **Headline**: 0.9 called"
        " paintings.\n- **Network**: small.\n\n```\n# a comment in a command\n```\n")
    groups = {name: (entries, card) for name, entries, card in shelf.groups()}
    assert sorted(groups) == ["digits", "sr_x2", "style"] and len(groups["style"][0]) == 2
    table = shelf.model_table()
    rows = table.split("<tr>")[1:]
    assert len(rows) == 1 + 3 and [cell.split(">")[-1] for cell in rows[0].split("</th>")[:-1]] == [
        "model", "task", "direction", "size", "trained on", "headline figure"]
    [style_row] = [row for row in rows if "<b>style</b>" in row]
    assert "photos ↔ vangogh" in style_row and "two paintings and a photo" in style_row
    assert "0.9 called paintings</td>" in style_row and "each</td>" in style_row
    assert [row for row in rows if "<b>sr_x2</b>" in row][0].count("–") == 2  # no card: no facts
    details = shelf.model_details(*groups["style"])
    assert details.count("The pair's card.") == 1 and "{" not in details and "'" not in details.split("####")[0]
    assert "#### Style" in details and "\n# a comment in a command" in details
    assert "- network: `resnet` (" in details


def test_bundled_folder_lists_no_stray_exports(tmp_path, monkeypatch):
    import translate.web_ui

    folder = tmp_path / "weights"
    folder.mkdir()
    tiny_sr(folder / "sr_x2.safetensors")
    (folder / "sr_x2.onnx").write_bytes(b"an export left here")
    monkeypatch.setattr(translate.web_ui, "bundled_models_dir", lambda: folder)
    shelf = Shelf([folder], device="cpu")
    assert [e.path.name for e in shelf.entries] == ["sr_x2.safetensors"] and not shelf.problems
    assert len(Shelf([tmp_path / "weights"], device="cpu").entries) == 1
    other = tmp_path / "mine"
    other.mkdir()
    (other / "x.onnx").write_bytes(b"junk")
    assert Shelf([other], device="cpu").problems  # a user's folder still lists (and checks) its exports


def test_upload_from_browser_payload():
    assert Upload.from_payload({"path": "/cache/abc/x.png", "orig_name": "holiday.png"}) == \
        Upload("/cache/abc/x.png", "holiday.png")
    assert Upload.from_payload({"path": "/cache/abc/x.png", "orig_name": None}) == Upload("/cache/abc/x.png", "x.png")
    assert Upload.from_payload(None) is None


def test_style_reports_progress_and_offers_png(shelf, tmp_path):
    calls = []
    decoded, out = shelf.style_output(_upload(tmp_path, "a.png"), "photos → vangogh (style_A2B)",
                                      lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)] and out.pixels.shape == (20, 30, 3)
    png = Image.open(shelf.save_png(out, "a_style"))
    assert png.format == "PNG" and png.size == (30, 20)


def test_side_by_side_crop_is_one_to_one():
    from translate.web_ui import side_by_side

    a = np.zeros((400, 600, 3), np.uint8)
    b = np.full((400, 600), 200, np.uint8)
    view = side_by_side((a, b), 100, 0, side=100)
    assert view.shape == (100, 208, 3)
    assert (view[:, :100] == 0).all() and (view[:, 108:] == 200).all() and (view[:, 100:108] == 255).all()
    assert side_by_side((a[:50, :60], a[:50, :60]), 50, 50, side=100).shape == (50, 128, 3)
    c = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    whole = side_by_side((c, c[..., 0]), 30, 70, side=0)  # both whole, at full size, wherever the centre is
    assert whole.shape == (40, 128, 3)
    assert np.array_equal(whole[:, :60], c) and np.array_equal(whole[:, 68:], np.repeat(c[..., :1], 3, 2))


def test_batch_gives_a_zip_and_the_command_lines_errors(shelf, tmp_path):
    import zipfile

    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    uploads = [_upload(tmp_path, "a.png"), Upload(str(bad), "broken.png"), _upload(tmp_path, "b.png", mode="L")]
    calls = []
    archive, log = shelf.batch(uploads, "x2 (sr_x2)", lambda done, total: calls.append((done, total)))
    assert Path(archive).name == "batch_x2.zip"  # named for what is inside, as the files are
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["a_x2.png", "b_x2.png"]
    lines = log.splitlines()
    assert lines[0].startswith("error: broken.png: ") and lines[-1] == "2 written, 0 skipped, 1 failed"
    assert calls[-1] == (3, 3)
    assert shelf.batch([Upload(str(bad), "broken.png")], "x2 (sr_x2)")[0] is None
    with pytest.raises(UserError, match="upload one or more images"):
        shelf.batch([], "x2 (sr_x2)")


def test_errors_become_messages(shelf, tmp_path):
    bad = tmp_path / "upload123.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(UserError, match="^holiday.png: not an image file"):
        shelf.style(Upload(str(bad), "holiday.png"), "photos → vangogh (style_A2B)")
    with pytest.raises(UserError, match="upload an image first"):
        shelf.style(None, "photos → vangogh (style_A2B)")
    with pytest.raises(UserError, match="pick a model first"):
        shelf.style(_upload(tmp_path, "a.png"), None)
    with pytest.raises(UserError, match="number of samples"):
        shelf.generate("digits", 0, "", 500)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_heap_trimmer_is_active_on_glibc():
    from translate.web_ui import HeapTrimmer

    trim = HeapTrimmer()
    assert trim.active  # mallopt accepted the arena limit
    trim()


def test_sketch_as_the_browser_sends_it(tmp_path, shelf, monkeypatch):
    """With the events' preprocessing off, a sketch arrives as Gradio's composite PNG (transparent background):
    it is read through translate.data.io and drawn on white."""
    from translate.inference import Output

    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[8:16, 8:24] = (0, 0, 0, 255)  # a black stroke on a transparent pad
    Image.fromarray(rgba, "RGBA").save(tmp_path / "composite.png")
    sketch = {"background": None, "layers": [], "composite": {"path": str(tmp_path / "composite.png")}}
    assert shelf.paired(None, sketch, "photos → vangogh (style_A2B)").shape == (24, 32, 3)

    class Identity:
        def image(self, decoded):
            return Output(decoded.pixels, None)

    monkeypatch.setattr(shelf, "_translator", lambda entry: Identity())
    seen = shelf.paired(None, sketch, "photos → vangogh (style_A2B)")
    assert (seen[8:16, 8:24] == 0).all() and (seen[:8] == 255).all()  # the stroke, on white
    with pytest.raises(UserError, match="draw something"):
        shelf.paired(None, {"composite": None}, "photos → vangogh (style_A2B)")


def test_paired_tab_offers_the_facade_palette_and_drawn_examples():
    from translate.label_maps import FACADE_CLASSES
    from translate.web_ui import facade_legend

    legend = facade_legend()
    assert all(name in legend for name, _ in FACADE_CLASSES) and legend.count("background:#") == 12
    assert "background:#0080ff" in legend  # window
    assert len(_examples(*(f"facade_labels/drawn_{i}.png" for i in range(3)))) == 3


def test_super_resolution_note_shows_with_the_bundled_sr_x4_only(shelf):
    """The tab's note about what sr_x4 learned from (clean photos shrunk 4x, not JPEG blocks) is about the
    bundled model, so a page serving other models leaves it out."""
    from translate.web_ui import build_app

    def note_visible(folders):
        app = build_app(folders, device="cpu")
        return [c["props"]["visible"] for c in app.config["components"] if c["props"].get("elem_id") == "sr-note"]

    assert note_visible(None) == [True]
    assert note_visible(shelf.folders) == [False]
    assert len(_examples("sr/x4_inputs/tubingen.png", "sr/x4_inputs/butterfly.png")) == 2


def test_video_tab_defaults_to_a_photo_translator():
    """With the bundled models the Video tab once opened on `facades`, which turns a filmed clip into noise:
    photo translators come first, label-map models last, and the tab starts on the bundled vangogh."""
    from translate.web_ui import build_app

    [model] = [c["props"] for c in build_app(None, device="cpu").config["components"]
               if c["props"].get("elem_id") == "video-model"]
    labels = [choice[0] for choice in model["choices"]]
    assert labels[0] == "photos → monet (monet_A2B)" and model["value"] == "photos → vangogh (vangogh_A2B)"
    assert labels[-1] == "labels → facades (facades)" and "x4 (sr_x4)" in labels


def test_tabs_start_on_the_bundled_vangogh_or_the_first_choice(shelf):
    from translate.zoo import bundled_models_dir

    bundled = Shelf([bundled_models_dir()], device="cpu")
    offered = bundled.choices("translation", paired=False)
    assert offered[0].endswith("(monet_A2B)") and bundled.default(offered) == "photos → vangogh (vangogh_A2B)"
    assert bundled.default(bundled.choices("super-resolution")) == "x4 (sr_x4)"
    assert shelf.default(shelf.choices("translation")) == "photos → vangogh (style_A2B)"
    assert shelf.default([]) is None


def test_paired_upload_that_is_not_a_label_map_gets_a_warning(shelf, tmp_path, samples):
    """A photo given to a label-map model is translated (into a smear) with a warning; a drawn label map,
    or a JPEG one from the facades set, passes without."""
    from translate.web_ui import looks_like_label_map

    label = "photos → vangogh (style_A2B)"
    notes = []
    photo = samples / "photos_vangogh/photos/golden_gate.jpg"
    assert shelf.paired(Upload(str(photo), "holiday.jpg"), None, label, notes.append).shape == (734, 979, 3)
    assert len(notes) == 1 and notes[0].startswith("warning: holiday.jpg does not look like a label map")
    drawn = samples / "facade_labels/drawn_0.png"
    shelf.paired(Upload(str(drawn), "drawn.png"), None, label, notes.append)
    assert len(notes) == 1
    rng = np.random.default_rng(0)
    flat = np.repeat(np.repeat(rng.integers(0, 12, (4, 4)), 16, 0), 16, 1)
    palette = rng.integers(0, 256, (12, 3))
    jpeg_like = np.clip(palette[flat] + rng.normal(0, 2, (64, 64, 3)), 0, 255) / 255
    assert looks_like_label_map(jpeg_like)
    assert not looks_like_label_map(rng.random((64, 64, 3)))


def test_tabs_without_a_model_are_left_out(tmp_path):
    """A folder of super-resolution models only: no style, paired or generate tab (they were there, empty)."""
    from translate.web_ui import build_app

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_sr(folder / "sr_x2.safetensors")
    tabs = [c["props"]["label"] for c in build_app([folder], device="cpu").config["components"]
            if c["type"] == "tabitem"]
    assert tabs == ["Super-resolution", "Batch", "Video", "Models"]


def test_models_add_to_the_bundled_ones(tmp_path, monkeypatch):
    """translate-app --models DIR serves DIR's models beside the bundled ones (its own first, and the tabs start
    on them); --no-bundled serves DIR alone; a name both have is told apart. The --max-* flags set the limits."""
    import translate.web_ui
    from translate.cli.web import main
    from translate.web_ui import app_folders
    from translate.zoo import bundled_models_dir

    folder = tmp_path / "mine"
    folder.mkdir()
    tiny_translator(folder / "vangogh_A2B.safetensors", ("photos", "vangogh"))
    assert app_folders([str(folder)]) == [folder, bundled_models_dir()]
    assert app_folders([str(folder)], bundled=False) == [folder]
    assert app_folders([str(bundled_models_dir())]) == [bundled_models_dir()]
    with pytest.raises(UserError, match="^--models .*typo: no such folder; pass folders of model files"):
        app_folders([str(tmp_path / "typo")])
    both = Shelf(app_folders([str(folder)]), device="cpu")
    offered = both.choices("translation", paired=False)
    assert offered[0] == "photos → vangogh (vangogh_A2B)" and "photos → vangogh (vangogh_A2B) · bundled" in offered
    assert both.default(offered) == offered[0] and both.entry(offered[0]).path.parent == folder
    assert both.choices("super-resolution") == ["x4 (sr_x4)"]

    launched = []

    class App:
        def launch(self, **kwargs):
            pass

    def build_app(folders, device, debug, limits, precision):
        launched.append((folders, limits))
        return App()

    monkeypatch.setattr(translate.web_ui, "build_app", build_app)
    assert main(["--models", str(folder), "--max-mp", "12", "--max-sr-mp", "2", "--max-batch-files", "5"]) == 0
    assert main(["--models", str(folder), "--no-bundled"]) == 0
    (folders, limits), (alone, defaults) = launched
    assert folders == [folder, bundled_models_dir()] and alone == [folder]
    assert (limits.max_mp, limits.max_sr_mp, limits.max_batch_files, limits.max_video_seconds) == (12, 2, 5, 20)
    assert defaults == AppLimits()


def test_big_results_are_shown_scaled_down_and_kept_on_disk_for_the_crops(shelf):
    """A result over the page's limit is sent scaled down (aspect kept); the inspection view's pair is kept
    as files, read back memory-mapped, so a session does not hold two 64 MP images."""
    from translate.web_ui import for_display, side_by_side

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert for_display(image, max_pixels=600).shape == (20, 30, 3)
    assert for_display(image[..., 0], max_pixels=600).shape == (20, 30)
    assert for_display(image, max_pixels=2400) is image
    before, after = shelf.keep_pair((image, image[..., 0]))
    kept = tuple(np.load(path, mmap_mode="r") for path in (before, after))
    assert isinstance(kept[1], np.memmap) and np.array_equal(kept[0], image)
    assert np.array_equal(side_by_side(kept, 50, 50, side=10), side_by_side((image, image[..., 0]), 50, 50, side=10))


def test_style_brush_paints_big_photos_on_a_smaller_copy(shelf, tmp_path):
    label = "photos → vangogh (style_A2B)"
    upload = _upload(tmp_path, "big.png", size=(700, 600))
    _, fine = shelf.style_output(upload, label, brush="fine")
    _, large = shelf.style_output(upload, label, brush="large")
    assert fine.pixels.shape == large.pixels.shape == (600, 700, 3)
    assert not np.allclose(fine.pixels, large.pixels)
    with pytest.raises(UserError, match="brush must be one of fine, medium, large"):
        shelf.style_output(upload, label, brush="huge")

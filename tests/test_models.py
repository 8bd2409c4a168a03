"""Image models and image bytes: the offline stand-in, Replicate, WebP with metadata.

Replicate is the local fake in :mod:`tests.support.fake_replicate`, reached over real
HTTP; nothing here needs the database.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from genvault._exceptions import InvalidInput, ModelFailed
from genvault._imagegen import ImageRequest
from genvault._images import ImageMetadata, read_metadata, thumbnail_webp, to_webp
from genvault._model_factory import make_model
from genvault._offline import OfflineModel
from genvault._replicate import ReplicateModel, _retry_after
from genvault._settings import Settings
from tests.support.fake_replicate import (
    FLUX,
    FLUX_VERSION,
    FakeReplicate,
    Script,
    sample_webp,
    serve,
)

OFFLINE = "genvault/offline"
WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with serve() as server:
        yield server


def replicate_model(fake: FakeReplicate, **options: object) -> ReplicateModel:
    settings: dict[str, object] = {"timeout": 5.0, "poll_interval": 0.01, "backoff": 0.01}
    settings.update(options)
    model = str(settings.pop("model", FLUX))
    token = str(settings.pop("token", fake.token))
    return ReplicateModel(token, model=model, base_url=fake.api_url, **settings)  # type: ignore[arg-type]


def png(
    size: tuple[int, int] = (64, 48), mode: str = "RGB", color: object = (200, 40, 40)
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")  # type: ignore[arg-type]
    return out.getvalue()


def meta(prompt: str = "a red fox in fresh snow", seed: int | None = 7) -> ImageMetadata:
    return ImageMetadata(
        prompt=prompt,
        model=FLUX,
        seed=seed,
        created_at=WHEN,
        generation_id="0b6f8c1e-8a55-4c53-9d1f-3f1f8f4b9e2a",
        params={"aspect_ratio": "16:9", "seed": seed},
    )


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two same-sized images, 0 to 255."""
    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        return (
            sum(ImageStat.Stat(ImageChops.difference(x.convert("RGB"), y.convert("RGB"))).mean) / 3
        )


# -- the offline model ------------------------------------------------------------


def test_offline_same_inputs_give_the_same_bytes() -> None:
    request = ImageRequest("a lighthouse at dusk", OFFLINE, "3:2", seed=11)
    first = OfflineModel().generate(request)
    second = OfflineModel().generate(request)
    assert first.data == second.data
    assert first.content_type == "image/png"
    assert first.data.startswith(b"\x89PNG")
    assert (first.model, first.seed, first.prediction_id) == (OFFLINE, 11, None)


@pytest.mark.parametrize(
    "other",
    [
        ImageRequest("a lighthouse at dawn", OFFLINE, "1:1", seed=11),
        ImageRequest("a lighthouse at dusk", OFFLINE, "1:1", seed=12),
        ImageRequest("a lighthouse at dusk", OFFLINE, "1:1", seed=None),
    ],
    ids=["prompt", "seed", "no-seed"],
)
def test_offline_different_inputs_give_visibly_different_pictures(other: ImageRequest) -> None:
    base = OfflineModel().generate(ImageRequest("a lighthouse at dusk", OFFLINE, "1:1", seed=11))
    assert difference(base.data, OfflineModel().generate(other).data) > 8


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("1:1", (512, 512)), ("16:9", (512, 288)), ("9:21", (219, 512)), ("4:5", (410, 512))],
)
def test_offline_respects_the_aspect_ratio(ratio: str, size: tuple[int, int]) -> None:
    result = OfflineModel().generate(ImageRequest("x", OFFLINE, ratio))
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == size


def test_offline_reports_that_it_is_drawing_and_refuses_unknown_ratios() -> None:
    seen: list[tuple[str, str]] = []
    OfflineModel().generate(
        ImageRequest("x", OFFLINE), on_status=lambda phase, detail: seen.append((phase, detail))
    )
    assert seen == [("running", "drawing offline")]
    assert OfflineModel().offline is True
    with pytest.raises(InvalidInput, match="aspect ratio"):
        OfflineModel().generate(ImageRequest("x", OFFLINE, "7:3"))


# -- WebP and metadata ------------------------------------------------------------


def test_to_webp_embeds_what_read_metadata_reads_back() -> None:
    webp = to_webp(png((96, 54)), metadata=meta())
    assert webp[:4] == b"RIFF"
    assert webp[8:12] == b"WEBP"
    with Image.open(io.BytesIO(webp)) as image:
        assert image.format == "WEBP"
        assert image.size == (96, 54)
    got = read_metadata(webp)
    assert got == {
        "prompt": "a red fox in fresh snow",
        "model": FLUX,
        "seed": "7",
        "created_at": "2025-03-04T05:06:07Z",
        "generation_id": "0b6f8c1e-8a55-4c53-9d1f-3f1f8f4b9e2a",
        "params": json.dumps({"aspect_ratio": "16:9", "seed": 7}, sort_keys=True),
        "creator": "genvault",
    }
    assert datetime.fromisoformat(got["created_at"]) == WHEN


def test_to_webp_writes_exif_too() -> None:
    webp = to_webp(png(), metadata=meta("un renard roux — 🦊"))
    with Image.open(io.BytesIO(webp)) as image:
        exif = image.getexif()
    assert exif[0x0131] == "genvault"
    assert exif[0x0132] == "2025:03:04 05:06:07"
    assert exif[0x010E].encode("latin-1").decode("utf-8") == "un renard roux — 🦊"


@pytest.mark.parametrize(
    "prompt",
    [
        'she said "hi" & left <quietly> it\'s fine',
        "\u202egnimmargorp\u202c with an RTL override and \u200f marks",
        "emoji 🦊🌨️👩‍🚀 and 日本語 and עברית",
        "line one\r\nline two\rline three\n\ttabbed",
        "]]> <?xpacket end='w'?> </rdf:li></rdf:Alt> <!DOCTYPE x> &amp; &#0;",
        "x" * 5000,
    ],
    ids=["quotes-markup", "rtl", "emoji", "newlines", "xml-injection", "long"],
)
def test_hostile_prompts_round_trip_exactly(prompt: str) -> None:
    webp = to_webp(png(), metadata=meta(prompt))
    assert read_metadata(webp)["prompt"] == prompt


def test_characters_xml_cannot_carry_are_replaced_not_fatal() -> None:
    webp = to_webp(png(), metadata=meta("bell\x07 nul\x00 end"))
    assert read_metadata(webp)["prompt"] == "bell\ufffd nul\ufffd end"


def test_metadata_without_a_seed_and_in_another_time_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    metadata = ImageMetadata("p", OFFLINE, None, datetime(2025, 1, 1, 2, 0, tzinfo=plus_two), "g")
    got = read_metadata(to_webp(png(), metadata=metadata))
    assert "seed" not in got
    assert got["created_at"] == "2025-01-01T00:00:00Z"
    assert got["params"] == "{}"
    with pytest.raises(ValueError, match="timezone"):
        ImageMetadata("p", OFFLINE, None, datetime(2025, 1, 1), "g")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"<html><body>Access denied</body></html>",
        b'{"error": "nope"}',
        b"BM" + b"\0" * 64,
    ],
    ids=["empty", "text", "html", "json", "bmp"],
)
def test_to_webp_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(ModelFailed, match="the model returned something that is not an image"):
        to_webp(data, metadata=meta())


def test_to_webp_refuses_too_many_bytes_and_names_the_size() -> None:
    data = png((256, 256))
    with pytest.raises(ModelFailed, match=rf"returned {len(data)} bytes, more than the 100 bytes"):
        to_webp(data, metadata=meta(), max_bytes=100)
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024)
    with pytest.raises(ModelFailed, match=r"3\.0 MB, more than the 2\.0 MB"):
        to_webp(big, metadata=meta(), max_bytes=2 * 1024 * 1024)


def test_to_webp_refuses_decompression_bombs_and_damaged_images() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, "PNG")  # 64 megapixels in a few KB
    with pytest.raises(ModelFailed, match="8000 x 8000 pixels"):
        to_webp(out.getvalue(), metadata=meta())
    with pytest.raises(ModelFailed, match="damaged"):
        to_webp(png((200, 200))[:-200], metadata=meta())


def test_to_webp_keeps_transparency_and_turns_images_upright() -> None:
    rgba = to_webp(png(mode="RGBA", color=(0, 0, 0, 0)), metadata=meta())
    with Image.open(io.BytesIO(rgba)) as image:
        assert image.mode == "RGBA"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    jpeg = io.BytesIO()
    Image.new("RGB", (80, 40), (10, 200, 10)).save(jpeg, "JPEG", exif=exif)
    with Image.open(io.BytesIO(to_webp(jpeg.getvalue(), metadata=meta()))) as image:
        assert image.size == (40, 80)
        assert image.getexif().get(0x0112) is None


def test_thumbnail_is_a_small_webp_with_the_same_shape() -> None:
    webp = to_webp(
        OfflineModel().generate(ImageRequest("x", OFFLINE, "16:9")).data, metadata=meta()
    )
    thumb = thumbnail_webp(webp, size=128)
    assert thumb[8:12] == b"WEBP"
    assert len(thumb) < len(webp)
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.size == (128, 72)
    with Image.open(io.BytesIO(thumbnail_webp(png((100, 60))))) as image:
        assert image.size == (100, 60)  # never enlarged
    assert read_metadata(thumb) == {}


def test_read_metadata_of_other_images_and_of_non_images() -> None:
    assert read_metadata(png()) == {}
    with pytest.raises(InvalidInput):
        read_metadata(b"not an image")


# -- Replicate ----------------------------------------------------------------------


def test_replicate_success(fake: FakeReplicate) -> None:
    fake.script = Script(starting_polls=1, processing_polls=2)
    seen: list[str] = []
    request = ImageRequest("a red fox", FLUX, "16:9", seed=42, extra={"go_fast": True})
    result = replicate_model(fake).generate(request, on_status=lambda p, _d: seen.append(p))

    (create,) = fake.creates()
    assert create.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create.headers["authorization"] == f"Bearer {fake.token}"
    assert "prefer" not in create.headers
    assert create.body == {
        "input": {
            "prompt": "a red fox",
            "aspect_ratio": "16:9",
            "seed": 42,
            "output_format": "webp",
            "num_outputs": 1,
            "go_fast": True,
        }
    }
    assert all(r.headers["authorization"] == f"Bearer {fake.token}" for r in fake.polls())
    assert len(fake.polls()) == 4
    assert seen == ["queued", "running"]
    assert fake.cancels() == []
    assert result.data == fake.script.output
    assert result.content_type == "image/webp"
    assert result.model == FLUX
    assert result.seed == 42
    assert result.prediction_id is not None
    assert fake.status(result.prediction_id) == "succeeded"


def test_replicate_version_seed_from_logs_and_string_output(fake: FakeReplicate) -> None:
    fake.script = Script(output_as_string=True, logs="Using seed: 90210\nDone\n")
    ref = f"{FLUX}:{FLUX_VERSION}"
    result = replicate_model(fake, model=ref).generate(ImageRequest("a fox", ref))
    (create,) = fake.creates()
    assert create.path == "/v1/predictions"
    assert create.body["version"] == FLUX_VERSION
    assert "seed" not in create.body["input"]
    assert result.seed == 90210
    assert result.model == ref


def test_replicate_polls_through_transient_errors(fake: FakeReplicate) -> None:
    fake.script = Script(poll_500=2)
    result = replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert len(fake.polls()) == 4
    assert result.data == fake.script.output


def test_replicate_data_url_output(fake: FakeReplicate) -> None:
    fake.script = Script(output_as_data_url=True)
    result = replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert result.data == fake.script.output
    assert fake.calls("GET", "/files/") == []


def test_replicate_token_goes_to_no_other_host(fake: FakeReplicate) -> None:
    fake.script = Script(output_base=fake.url.replace("127.0.0.1", "localhost"))
    replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    (download,) = fake.calls("GET", "/files/")
    assert "authorization" not in download.headers
    fake.script = Script()
    replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert fake.calls("GET", "/files/")[1].headers["authorization"] == f"Bearer {fake.token}"


def test_replicate_prefer_wait_needs_no_polling(fake: FakeReplicate) -> None:
    result = replicate_model(fake, wait=30, timeout=10.5).generate(ImageRequest("a fox", FLUX))
    (create,) = fake.creates()
    assert create.headers["prefer"] == "wait=10"  # never held past the deadline
    assert fake.polls() == []
    assert result.data == fake.script.output


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("failed", "failed on Replicate: NSFW content detected"),
        ("aborted", "aborted the prediction before it started: NSFW content detected"),
        ("canceled", "was cancelled on Replicate"),
    ],
)
def test_replicate_failures_surface_replicates_message(
    fake: FakeReplicate, outcome: str, message: str
) -> None:
    fake.script = Script(outcome=outcome, error="NSFW content detected")  # type: ignore[arg-type]
    with pytest.raises(ModelFailed, match=message) as info:
        replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert info.value.code == outcome
    assert fake.cancels() == []


def test_replicate_429_on_create_honours_retry_after(fake: FakeReplicate) -> None:
    fake.script = Script(create_429=2, retry_after="0.2")
    started = time.monotonic()
    result = replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert time.monotonic() - started >= 0.4
    assert len(fake.creates()) == 3
    assert result.data == fake.script.output


def test_replicate_429_longer_than_the_deadline_fails_at_once(fake: FakeReplicate) -> None:
    fake.script = Script(create_429=5, retry_after="30")
    started = time.monotonic()
    with pytest.raises(ModelFailed, match="try again in 30 s") as info:
        replicate_model(fake, timeout=2.0).generate(ImageRequest("a fox", FLUX))
    assert time.monotonic() - started < 1
    assert info.value.code == "429"
    assert len(fake.creates()) == 1


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "2"}, {}, 2.0),
        ({"Retry-After": "Wed, 21 Oct 2065 07:28:00 GMT"}, {}, None),
        ({"Retry-After": "inf"}, {}, 0.5),
        ({}, {"retry_after": 4}, 4.0),
        ({}, {"detail": "throttled"}, 0.5),
    ],
    ids=["seconds", "http-date", "nonsense", "body", "nothing"],
)
def test_retry_after_sources(headers: dict[str, str], body: object, expected: float | None) -> None:
    response = httpx.Response(429, headers=headers, json=body)
    seconds = _retry_after(response, 0.5)
    if expected is None:
        assert seconds > 365 * 24 * 3600  # a date decades ahead
    else:
        assert seconds == expected


def test_replicate_5xx_on_create_is_retried(fake: FakeReplicate) -> None:
    fake.script = Script(create_500=3)
    result = replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert len(fake.creates()) == 4
    assert result.data == fake.script.output


def test_replicate_5xx_until_the_deadline_gives_up(fake: FakeReplicate) -> None:
    fake.script = Script(create_500=1000)
    with pytest.raises(ModelFailed, match="Replicate answered 500") as info:
        replicate_model(fake, timeout=0.3, backoff=0.05).generate(ImageRequest("a fox", FLUX))
    assert info.value.code == "500"
    assert 2 <= len(fake.creates()) <= 4


def test_replicate_timeout_cancels_the_prediction(fake: FakeReplicate) -> None:
    fake.script = Script(outcome="hang")
    started = time.monotonic()
    with pytest.raises(ModelFailed, match=r"did not finish within 0\.3 s; the prediction") as info:
        replicate_model(fake, timeout=0.3).generate(ImageRequest("a fox", FLUX))
    assert time.monotonic() - started < 1.5
    assert info.value.code == "timeout"
    (cancel,) = fake.cancels()
    assert cancel.headers["authorization"] == f"Bearer {fake.token}"
    (prediction_id,) = fake.predictions
    assert cancel.path == f"/v1/predictions/{prediction_id}/cancel"
    assert fake.status(prediction_id) == "canceled"


def test_replicate_slow_polls_do_not_outlive_the_deadline(fake: FakeReplicate) -> None:
    fake.script = Script(outcome="hang", poll_delay=3.0)
    started = time.monotonic()
    with pytest.raises(ModelFailed, match="did not finish"):
        replicate_model(fake, timeout=0.4).generate(ImageRequest("a fox", FLUX))
    assert time.monotonic() - started < 1.5
    assert len(fake.cancels()) == 1


def test_replicate_keyboard_interrupt_cancels_then_propagates(fake: FakeReplicate) -> None:
    fake.script = Script(outcome="hang")

    def interrupt(phase: str, _detail: str) -> None:
        if phase == "running":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replicate_model(fake).generate(ImageRequest("a fox", FLUX), on_status=interrupt)
    assert len(fake.cancels()) == 1
    (prediction_id,) = fake.predictions
    assert fake.status(prediction_id) == "canceled"


@pytest.mark.parametrize(
    "script",
    [Script(output_status=404), Script(data_removed=True)],
    ids=["expired-url", "data-removed"],
)
def test_replicate_output_that_is_gone(fake: FakeReplicate, script: Script) -> None:
    fake.script = script
    with pytest.raises(ModelFailed, match=r"output of the prediction .*is gone") as info:
        replicate_model(fake).generate(ImageRequest("a fox", FLUX))
    assert "an hour" in (info.value.hint or "")


def test_replicate_output_that_is_not_an_image(fake: FakeReplicate) -> None:
    fake.script = Script(output=b"<html>Access denied</html>", output_content_type="image/webp")
    with pytest.raises(ModelFailed, match="the model returned something that is not an image"):
        replicate_model(fake).generate(ImageRequest("a fox", FLUX))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_replicate_output_over_50_mb_is_refused(fake: FakeReplicate, chunked: bool) -> None:
    fake.script = Script(output_size=50 * 1024 * 1024 + 1, output_chunked=chunked)
    with pytest.raises(ModelFailed, match="larger than 50 MB"):
        replicate_model(fake).generate(ImageRequest("a fox", FLUX))


def test_replicate_bad_token_gets_a_hint(fake: FakeReplicate) -> None:
    with pytest.raises(ModelFailed, match="refused the API token") as info:
        replicate_model(fake, token="r8_wrong").generate(ImageRequest("a fox", FLUX))
    assert "REPLICATE_API_TOKEN" in (info.value.hint or "")
    assert info.value.code == "401"
    assert fake.predictions == {}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("acme/no-such-model", "Replicate has no model acme/no-such-model"),
        (f"{FLUX}:{'0' * 64}", "The specified version does not exist"),
    ],
    ids=["model", "version"],
)
def test_replicate_unknown_model_is_invalid_input(
    fake: FakeReplicate, ref: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        replicate_model(fake, model=ref).generate(ImageRequest("a fox", ref))


def test_replicate_refused_input_is_invalid_input(fake: FakeReplicate) -> None:
    with pytest.raises(InvalidInput, match="aspect_ratio"):
        replicate_model(fake).generate(ImageRequest("a fox", FLUX, aspect_ratio="7:3"))


def test_replicate_unreachable() -> None:
    with serve() as gone:
        url = gone.api_url
    model = ReplicateModel("r8_x", model=FLUX, base_url=url, timeout=0.3, backoff=0.05)
    with pytest.raises(ModelFailed, match="could not reach Replicate"):
        model.generate(ImageRequest("a fox", FLUX))


def test_replicate_output_becomes_a_labelled_webp(fake: FakeReplicate) -> None:
    fake.script = Script(output=sample_webp(size=200))
    result = replicate_model(fake).generate(ImageRequest("a fox & a hare", FLUX, seed=3))
    webp = to_webp(result.data, metadata=meta("a fox & a hare", result.seed))
    assert read_metadata(webp)["prompt"] == "a fox & a hare"
    assert read_metadata(webp)["seed"] == "3"


# -- choosing the model ------------------------------------------------------------


def test_make_model(tmp_path: Path) -> None:
    offline = Settings(home=tmp_path)
    assert isinstance(make_model(offline), OfflineModel)
    assert isinstance(make_model(offline, OFFLINE), OfflineModel)
    with pytest.raises(InvalidInput, match="needs REPLICATE_API_TOKEN"):
        make_model(offline, FLUX)

    online = Settings(
        home=tmp_path,
        replicate_token="r8_x",
        replicate_base_url="http://127.0.0.1:9/v1",
        model_timeout=12.0,
    )
    model = make_model(online)
    assert isinstance(model, ReplicateModel)
    assert (model.name, model.timeout, model.offline) == (FLUX, 12.0, False)
    assert isinstance(make_model(online, OFFLINE), OfflineModel)
    pinned = f"{FLUX}:{FLUX_VERSION}"
    assert make_model(online, pinned).name == pinned


@pytest.mark.parametrize(
    "name",
    ["flux", "Black-Forest-Labs/Flux", "a/b/c", "owner/name:not-hex", "", "genvault/other"],
)
def test_make_model_refuses_malformed_names(tmp_path: Path, name: str) -> None:
    settings = Settings(home=tmp_path, replicate_token="r8_x")
    with pytest.raises(InvalidInput, match="owner/name") as info:
        make_model(settings, name)
    assert "genvault/offline" in (info.value.hint or "")

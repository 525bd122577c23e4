"""Face matching at the reader: the camera image against the photo stored on the card's chip.

Real face_recognition (dlib) on real photos. The portraits come from installed packages
(``PORTRAITS``: scikit-image's astronaut, matplotlib's Grace Hopper, and the synthetic people of the
``openpeople`` package, each with a studio portrait for the chip and a selfie for the camera):
nothing is downloaded.
Camera-like captures (dim, dark, blurred, rotated, masked, with glasses …) are derived from them
with OpenCV so that tests see what a real counter sees.

Speed (the reader must answer within ~300 ms per attempt at 640×480 on one core): the HOG
detector runs on a half-size copy of the frame (a face at the reader fills a good part of the
frame, so nothing is lost), the 128-d encoding runs once per attempt on the full frame, and the
chip photo's encoding is computed once per card and cached.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # RGB, H×W×3
Encoding = npt.NDArray[np.float64]

CAPTURE_WIDTH = 640
CAPTURE_HEIGHT = 480
DEFAULT_THRESHOLD = 0.6  # face_recognition's usual tolerance; lower is stricter
DETECTION_WIDTH = 320  # frames are downscaled to this width for the HOG detector
MIN_BRIGHTNESS = 40.0  # mean luma below this: the camera sees too little to judge (a real reader's check)


# --- the face_recognition import is slow (loads dlib models): do it once, on first use ----------


@functools.cache
def _fr() -> object:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition

    return face_recognition


_DLIB_LOCK = threading.Lock()  # dlib's models are not documented as thread-safe


# --- portraits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Portrait:
    """A face the emulator ships: the chip photo's source and, where the package has a second photo
    of the same person, a different photo for the camera (a genuine match across two photos)."""

    name: str
    ja: str
    en: str
    sex: str  # onshi.codes.Sex value: "1" male, "2" female
    ages: tuple[int, int]  # the age range the face fits
    source: str  # package and licence

    @property
    def label(self) -> dict[str, str]:
        return {"ja": self.ja, "en": self.en}


_OPENPEOPLE = "openpeople (PyPI, MIT): a synthetic person, no real individual"


def _op(name: str, person: str, ja: str, en: str, sex: str, ages: tuple[int, int]) -> Portrait:
    return Portrait(name, ja, en, sex, ages, f"{_OPENPEOPLE}; {person}")


PORTRAITS: dict[str, Portrait] = {
    p.name: p
    for p in (
        Portrait("astronaut", "女性（40歳前後）・宇宙服", "woman, about 40, space suit", "2", (35, 50),
                 "scikit-image data.astronaut (NASA, public domain)"),
        Portrait("hopper", "高齢の女性（80歳前後）", "elderly woman, about 80", "2", (70, 95),
                 "matplotlib sample_data grace_hopper.jpg (US Navy, public domain)"),
        _op("woman-a", "P001", "女性Ａ（40歳前後）", "woman A, about 40", "2", (35, 45)),
        _op("woman-b", "P002", "女性Ｂ（40〜50代）", "woman B, 40s to 50s", "2", (35, 60)),
        _op("woman-c", "P003", "女性Ｃ（30歳前後）", "woman C, about 30", "2", (25, 38)),
        _op("woman-d", "P004", "女性Ｄ（30歳前後）", "woman D, about 30", "2", (25, 38)),
        _op("woman-e", "P006", "女性Ｅ（40歳前後）", "woman E, about 40", "2", (35, 48)),
        _op("woman-f", "P009", "女性Ｆ（20代前半）", "woman F, early 20s", "2", (15, 25)),
        _op("woman-g", "P010", "女性Ｇ（30歳前後）", "woman G, about 30", "2", (25, 38)),
        _op("man-a", "P005", "男性Ａ（60歳前後）", "man A, about 60", "1", (50, 75)),
        _op("man-b", "P007", "男性Ｂ（30歳前後）", "man B, about 30", "1", (20, 38)),
        _op("man-c", "P008", "男性Ｃ（40歳前後）", "man C, about 40", "1", (35, 50)),
    )
}
_OPENPEOPLE_IDS = {name: p.source.rsplit("; ", 1)[1] for name, p in PORTRAITS.items()
                   if p.source.startswith("openpeople")}
_MAX_SOURCE_SIDE = 1024  # the package's photos are 2048 px; a chip photo and a camera frame need far less


def _openpeople_photo(person: str, asset: str) -> Image:
    import openpeople

    path = Path(openpeople.__file__).parent / "data" / "curated" / person / "assets" / f"{asset}.jpg"
    image = load_image(path)
    height, width = image.shape[:2]
    scale = _MAX_SOURCE_SIDE / max(height, width)
    if scale < 1:
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small, dtype=np.uint8)
    return image


def unknown_portrait(name: str) -> KeyError:
    return KeyError(f"unknown face {name!r}; known faces: {', '.join(PORTRAITS)} "
                    f"(or an image file; add :derivation, e.g. {next(iter(PORTRAITS))}:mask)")


@functools.cache
def _portrait(name: str) -> Image:
    """The photo a chip photo is made from."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
    if name == "hopper":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        return load_image(path)
    if name in _OPENPEOPLE_IDS:
        return _openpeople_photo(_OPENPEOPLE_IDS[name], "studio_portrait")
    raise unknown_portrait(name)


@functools.cache
def _camera_source(name: str) -> Image:
    """The photo the camera sees the person in: another photo of the same person where there is one."""
    if name in _OPENPEOPLE_IDS:
        return _openpeople_photo(_OPENPEOPLE_IDS[name], "amateur_selfie")
    return _portrait(name)


def portrait(name: str) -> Image:
    """The original photo of a named portrait (a copy: callers may draw on it)."""
    return _portrait(name).copy()


def load_image(path: Path | str) -> Image:
    """Reads an image file as RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"not an image: {path}")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def decode_image(data: bytes) -> Image:
    """JPEG/PNG bytes (e.g. a webcam frame from the page) as RGB."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not an image")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode JPEG")
    return bytes(buf.tobytes())


def save_image(image: Image, path: Path | str) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"cannot write {path}")


Box = tuple[int, int, int, int]  # face_recognition's (top, right, bottom, left)


def find_faces(image: Image) -> list[Box]:
    """Face boxes in full-frame coordinates; HOG on a downscaled copy (fast, no upsampling)."""
    fr = _fr()
    height, width = image.shape[:2]
    scale = min(1.0, DETECTION_WIDTH / width)
    small = image if scale == 1.0 else cv2.resize(image, (round(width * scale), round(height * scale)),
                                                  interpolation=cv2.INTER_AREA)
    with _DLIB_LOCK:
        boxes = fr.face_locations(small, number_of_times_to_upsample=0, model="hog")  # type: ignore[attr-defined]
        if not boxes:  # a smaller face (standing further back): one upsampling pass
            boxes = fr.face_locations(small, number_of_times_to_upsample=1, model="hog")  # type: ignore[attr-defined]
    inv = 1.0 / scale
    return [
        (
            max(0, round(t * inv)),
            min(width, round(r * inv)),
            min(height, round(b * inv)),
            max(0, round(left * inv)),
        )
        for (t, r, b, left) in boxes
    ]


def encode_face(image: Image, box: Box) -> Encoding:
    fr = _fr()
    with _DLIB_LOCK:
        encodings = fr.face_encodings(image, [box], num_jitters=1, model="large")  # type: ignore[attr-defined]
    return np.asarray(encodings[0], dtype=np.float64)


def largest(boxes: list[Box]) -> Box:
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))


def landmarks(image: Image, box: Box) -> dict[str, list[tuple[int, int]]]:
    fr = _fr()
    with _DLIB_LOCK:
        found = fr.face_landmarks(image, [box], model="large")  # type: ignore[attr-defined]
    return dict(found[0])


# --- the chip photo --------------------------------------------------------------------------


class NoFaceInPhoto(ValueError):
    """The card's photo has no usable face (the card could not be enrolled)."""


class SeveralFacesInPhoto(ValueError):
    """A photo to enrol shows more than one face: whose card would it be?"""


def chip_photo(image: Image, size: tuple[int, int] = (300, 400), *, single: bool = False) -> Image:
    """A passport-style head-and-shoulders crop, as printed on the card and stored on the chip.
    With ``single`` (a new card from someone's photo) a photo with several faces is refused."""
    boxes = find_faces(image)
    if not boxes:
        raise NoFaceInPhoto("no face in the photo")
    if single and len(boxes) > 1:
        raise SeveralFacesInPhoto(f"{len(boxes)} faces in the photo")
    top, right, bottom, left = largest(boxes)
    face_h = bottom - top
    cx, cy = (left + right) / 2, (top + bottom) / 2
    out_w, out_h = size
    # The face takes ~45% of the photo's height, a little above the centre (the card's rule).
    scale = out_h * 0.45 / face_h
    matrix = np.array([[scale, 0, out_w / 2 - scale * cx], [0, scale, out_h * 0.45 - scale * cy]], np.float32)
    return np.ascontiguousarray(
        cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    )


_ENCODING_CACHE: dict[str, Encoding] = {}
_CACHE_LOCK = threading.Lock()


def reference_encoding(photo: Image) -> Encoding:
    """The chip photo's encoding, cached by content (one computation per card)."""
    key = hashlib.sha256(photo.tobytes() + repr(photo.shape).encode()).hexdigest()
    with _CACHE_LOCK:
        cached = _ENCODING_CACHE.get(key)
    if cached is not None:
        return cached
    boxes = find_faces(photo)
    if not boxes:
        raise NoFaceInPhoto("no face in the chip photo")
    encoding = encode_face(photo, largest(boxes))
    with _CACHE_LOCK:
        _ENCODING_CACHE[key] = encoding
    return encoding


# --- matching --------------------------------------------------------------------------------


class MatchReason(StrEnum):
    MATCH = "match"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    NO_MATCH = "no_match"
    TOO_DARK = "too_dark"


REASON_TEXT: dict[MatchReason, tuple[str, str]] = {
    MatchReason.MATCH: ("本人確認ができました", "Identity confirmed"),
    MatchReason.NO_FACE: (
        "顔が検出できません。カメラの正面に顔を向けてください",
        "No face detected. Face the camera.",
    ),
    MatchReason.SEVERAL_FACES: (
        "複数の顔が検出されました。お一人でカメラの前にお立ちください",
        "Several faces detected. Only one person in front of the camera, please.",
    ),
    MatchReason.NO_MATCH: (
        "顔写真と一致しません。マスク・帽子・サングラスを外して、もう一度お試しください",
        "The face does not match the card photo. Remove a mask, hat or sunglasses and try again.",
    ),
    MatchReason.TOO_DARK: (
        "周囲が暗いため顔を確認できません",
        "Too dark to check the face.",
    ),
}


@dataclass(frozen=True)
class MatchOutcome:
    reason: MatchReason
    distance: float | None  # encoding distance to the chip photo (None when no single face)
    faces: int
    elapsed_ms: float
    threshold: float

    @property
    def matched(self) -> bool:
        return self.reason is MatchReason.MATCH

    @property
    def ja(self) -> str:
        return REASON_TEXT[self.reason][0]

    @property
    def en(self) -> str:
        return REASON_TEXT[self.reason][1]

    def describe(self) -> dict[str, object]:
        return {
            "reason": self.reason.value,
            "ja": self.ja,
            "en": self.en,
            "distance": None if self.distance is None else round(self.distance, 3),
            "faces": self.faces,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "threshold": self.threshold,
        }


def match(capture: Image, reference: Encoding, threshold: float = DEFAULT_THRESHOLD) -> MatchOutcome:
    """One attempt: the camera frame against the chip photo's encoding."""
    started = time.perf_counter()

    def done(reason: MatchReason, distance: float | None, faces: int) -> MatchOutcome:
        return MatchOutcome(reason, distance, faces, (time.perf_counter() - started) * 1000, threshold)

    boxes = find_faces(capture)
    if not boxes:
        luma = float(cv2.cvtColor(capture, cv2.COLOR_RGB2GRAY).mean())
        return done(MatchReason.TOO_DARK if luma < MIN_BRIGHTNESS else MatchReason.NO_FACE, None, 0)
    if len(boxes) > 1:
        return done(MatchReason.SEVERAL_FACES, None, len(boxes))
    top, right, bottom, left = boxes[0]
    face_luma = float(cv2.cvtColor(capture[top:bottom, left:right], cv2.COLOR_RGB2GRAY).mean())
    if face_luma < MIN_BRIGHTNESS:  # exposure check before matching, as real readers do
        return done(MatchReason.TOO_DARK, None, 1)
    distance = float(np.linalg.norm(encode_face(capture, boxes[0]) - reference))
    return done(MatchReason.MATCH if distance <= threshold else MatchReason.NO_MATCH, distance, 1)


# --- camera-like captures --------------------------------------------------------------------


def camera_frame(image: Image, face_height: int = 200, shift: tuple[int, int] = (0, 0)) -> Image:
    """The person standing in front of the reader's camera: a 640×480 frame, face ~200 px tall."""
    boxes = find_faces(image)
    if not boxes:
        raise NoFaceInPhoto("no face to frame")
    top, right, bottom, left = largest(boxes)
    scale = face_height / (bottom - top)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    tx = CAPTURE_WIDTH / 2 + shift[0] - scale * cx
    ty = CAPTURE_HEIGHT * 0.43 + shift[1] - scale * cy
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
    return np.ascontiguousarray(
        cv2.warpAffine(image, matrix, (CAPTURE_WIDTH, CAPTURE_HEIGHT), borderMode=cv2.BORDER_REFLECT)
    )


def _gamma(image: Image, gain: float, gamma: float) -> Image:
    x = image.astype(np.float32) / 255.0
    return np.clip(255.0 * gain * np.power(x, gamma), 0, 255).astype(np.uint8)


def _noise(image: Image, sigma: float, seed: int = 7) -> Image:
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def dim(image: Image) -> Image:
    """Poor counter lighting that a real reader still copes with."""
    return _noise(_gamma(image, 0.65, 1.3), 4.0)


def dark(image: Image) -> Image:
    """A dark corner or strong backlight: the camera sees almost nothing."""
    return _noise(_gamma(image, 0.12, 1.8), 3.0)


def blur(image: Image) -> Image:
    """Slightly out of focus (the patient moved)."""
    return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), 2.0))


def heavy_blur(image: Image) -> Image:
    return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), 9.0))


def noise(image: Image) -> Image:
    return _noise(image, 12.0)


def _rotate(image: Image, degrees: float) -> Image:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.ascontiguousarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT))


def rotate(image: Image) -> Image:
    """Head tilted a little."""
    return _rotate(image, 12.0)


def tilted(image: Image) -> Image:
    """Head tilted far to the side: the frontal detector no longer sees a face."""
    return _rotate(image, 45.0)


def _points(marks: dict[str, list[tuple[int, int]]], *names: str) -> npt.NDArray[np.int32]:
    return np.array([p for name in names for p in marks[name]], dtype=np.int32)


def mask(image: Image) -> Image:
    """A surgical mask drawn over nose and mouth, up to just below the eyes."""
    boxes = find_faces(image)
    if not boxes:
        return image.copy()
    box = largest(boxes)
    marks = landmarks(image, box)
    chin = _points(marks, "chin")
    nose = _points(marks, "nose_bridge")
    eyes = _points(marks, "left_eye", "right_eye")
    top_y = int(nose[:, 1].min() + 0.35 * (nose[:, 1].max() - nose[:, 1].min()))
    top_y = max(top_y, int(eyes[:, 1].max()) + 4)
    left, right = chin[0], chin[-1]
    outline = [(int(left[0]), top_y), (int(right[0]), top_y)]
    outline += [(int(x), int(y)) for x, y in chin[::-1] if y >= top_y]
    out = image.copy()
    cv2.fillPoly(out, [np.array(outline, dtype=np.int32)], (196, 222, 236), lineType=cv2.LINE_AA)
    # pleats and ear loops, so it reads as a mask on screen
    span = max(1, int(chin[:, 1].max()) - top_y)
    for k in (0.3, 0.55, 0.8):
        y = top_y + int(k * span * 0.7)
        cv2.line(out, (int(left[0]) + 8, y), (int(right[0]) - 8, y), (160, 190, 210), 2, cv2.LINE_AA)
    loop = (230, 230, 230)
    cv2.line(out, (int(left[0]), top_y + 4), (int(chin[2][0]) - 6, int(chin[2][1]) - 30), loop, 3)
    cv2.line(out, (int(right[0]), top_y + 4), (int(chin[-3][0]) + 6, int(chin[-3][1]) - 30), loop, 3)
    return out


def _eyewear(image: Image, lens_colour: tuple[int, int, int] | None, alpha: float) -> Image:
    boxes = find_faces(image)
    if not boxes:
        return image.copy()
    marks = landmarks(image, largest(boxes))
    out = image.copy()
    overlay = image.copy()
    centres = []
    for eye in ("left_eye", "right_eye"):
        pts = _points(marks, eye)
        cx, cy = pts.mean(axis=0)
        half_w = (pts[:, 0].max() - pts[:, 0].min()) * 0.95 + 6
        centres.append((int(cx), int(cy), int(half_w)))
        axes = (int(half_w), int(half_w * 0.75))
        if lens_colour is not None:
            cv2.ellipse(overlay, (int(cx), int(cy)), axes, 0, 0, 360, lens_colour, -1, cv2.LINE_AA)
        cv2.ellipse(out, (int(cx), int(cy)), axes, 0, 0, 360, (25, 20, 20), 3, cv2.LINE_AA)
        cv2.ellipse(overlay, (int(cx), int(cy)), axes, 0, 0, 360, (25, 20, 20), 3, cv2.LINE_AA)
    if lens_colour is not None:
        out = np.asarray(cv2.addWeighted(overlay, alpha, out, 1 - alpha, 0), dtype=np.uint8)
    (lx, ly, lw), (rx, ry, rw) = sorted(centres)
    cv2.line(out, (lx + lw, ly), (rx - rw, ry), (25, 20, 20), 3, cv2.LINE_AA)
    return np.ascontiguousarray(out)


def glasses(image: Image) -> Image:
    """Ordinary glasses: thin dark frames, clear lenses."""
    return _eyewear(image, None, 0.0)


def sunglasses(image: Image) -> Image:
    return _eyewear(image, (15, 15, 20), 0.92)


def two_people(image: Image, other: Image) -> Image:
    """Someone standing right beside the patient: two faces in the frame."""
    h, w = image.shape[:2]
    halves = []
    for frame in (image, other):
        small = cv2.resize(frame, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA)
        x0 = (small.shape[1] - w // 2) // 2
        halves.append(small[:, x0 : x0 + w // 2])
    canvas = cv2.GaussianBlur(image, (0, 0), 25)
    top = (h - halves[0].shape[0]) // 3
    canvas[top : top + halves[0].shape[0]] = np.hstack(halves)
    return np.ascontiguousarray(canvas)


def empty_frame(image: Image) -> Image:
    """Nobody in front of the camera (a heavily blurred background)."""
    return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), 30))


CAPTURES: dict[str, Callable[[Image], Image]] = {
    "plain": lambda image: image,
    "dim": dim,
    "dark": dark,
    "blur": blur,
    "heavy_blur": heavy_blur,
    "noise": noise,
    "rotate": rotate,
    "tilted": tilted,
    "mask": mask,
    "glasses": glasses,
    "sunglasses": sunglasses,
    "empty": empty_frame,
}


CAPTURE_LABELS: dict[str, tuple[str, str]] = {
    "plain": ("そのまま", "as is"),
    "dim": ("少し暗い照明", "dim light"),
    "dark": ("暗すぎる", "too dark"),
    "blur": ("少しぶれる", "slightly blurred"),
    "heavy_blur": ("大きくぶれる", "badly blurred"),
    "noise": ("画質が粗い", "grainy"),
    "rotate": ("顔を少し傾ける", "head tilted a little"),
    "tilted": ("顔を大きく傾ける", "head tilted far"),
    "mask": ("マスク着用", "wearing a mask"),
    "glasses": ("眼鏡", "glasses"),
    "sunglasses": ("サングラス", "sunglasses"),
    "empty": ("誰も映っていない", "nobody in front of the camera"),
}
SAMPLE_DERIVATIONS = ("plain", "dim", "mask", "glasses", "sunglasses", "dark")


def capture_label(spec: str) -> dict[str, str]:
    """A capture spec in words for people: "man-a:mask" → 男性A（60歳前後）・マスク着用."""
    if "+" in spec:
        first, second = (capture_label(part) for part in spec.split("+", 1))
        return {"ja": f"2人が映る：{first['ja']}と{second['ja']}",
                "en": f"two people: {first['en']} and {second['en']}"}
    name, _, derivation = spec.partition(":")
    portrait_ = PORTRAITS.get(name)
    who = portrait_.label if portrait_ else {"ja": "画像ファイル", "en": "image file"}
    if not derivation or derivation == "plain":
        return dict(who)
    ja, en = CAPTURE_LABELS.get(derivation, (derivation, derivation))
    return {"ja": f"{who['ja']}・{ja}", "en": f"{who['en']}, {en}"}


def sample_specs() -> list[str]:
    """The prepared captures the reader page offers instead of a camera."""
    specs = [name if d == "plain" else f"{name}:{d}" for name in PORTRAITS for d in SAMPLE_DERIVATIONS]
    return [*specs, "astronaut+man-a"]


def check_spec(spec: str, extra_names: tuple[str, ...] = ()) -> None:
    """Raises KeyError (naming the known faces and variations) for a capture spec that names no
    shipped face, no image file and none of ``extra_names`` (e.g. the reader's "holder")."""
    for part in spec.split("+"):
        name, _, derivation = part.partition(":")
        if derivation and derivation not in CAPTURES:
            raise KeyError(f"unknown face variation {derivation!r}; known: {', '.join(CAPTURES)}")
        if name not in PORTRAITS and name not in extra_names and not Path(name).is_file():
            known = ", ".join([*extra_names, *PORTRAITS])
            raise KeyError(f"unknown face {name!r}; known faces: {known} (or an image file; "
                           f"add :variation, e.g. {next(iter(PORTRAITS))}:mask)")


def capture(spec: str) -> Image:
    """A camera frame from a spec: "astronaut", "hopper:mask", "astronaut+hopper" (two people),
    or a path to an image file (optionally ":derivation"), framed as the reader's camera sees it."""
    if "+" in spec:
        first, second = spec.split("+", 1)
        return two_people(capture(first), capture(second))
    name, _, derivation = spec.partition(":")
    if derivation and derivation not in CAPTURES:
        raise KeyError(f"unknown capture {derivation!r}; known: {', '.join(CAPTURES)}")
    if name in PORTRAITS:
        frame = _framed_portrait(name)
    else:
        if not Path(name).is_file():
            raise unknown_portrait(name)
        source = load_image(Path(name))
        frame = source if source.shape[:2] == (CAPTURE_HEIGHT, CAPTURE_WIDTH) else camera_frame(source)
    return CAPTURES[derivation or "plain"](frame)


@functools.cache
def _framed_portrait(name: str) -> Image:
    # Framed a little differently from the chip photo (closer, off-centre), as a live camera would,
    # from another photo of the person where the package has one.
    frame = camera_frame(_camera_source(name), face_height=210, shift=(18, -6))
    frame.setflags(write=False)
    return frame


@functools.cache
def portrait_chip_photo(name: str) -> Image:
    """The chip photo of a fixture card made from a named portrait."""
    photo = chip_photo(_portrait(name))
    photo.setflags(write=False)
    return photo

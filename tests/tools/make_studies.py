#!/usr/bin/python3
"""make_studies.py: Tresor's deterministic generator of synthetic DICOM studies.

Writes PATIENTS x STUDIES x SERIES x INSTANCES Part 10 files (Explicit VR Little Endian)
under --out, plus --out/manifest.tsv, using nothing but pydicom (Debian's python3-pydicom).

Contract
  * Deterministic: the same arguments give byte-identical files and manifest, whatever
    --jobs is (each file is a pure function of the arguments and its indexes; the
    manifest is written by the parent process in a fixed order).
  * Numbering: patients p = 0..PATIENTS-1, studies k = 0..STUDIES-1 of each patient,
    series j = 0..SERIES-1 of each study, instances i = 0..INSTANCES-1 of each series.
    The values of a patient derive from (seed, p) only, those of a study from
    (seed, p, k), of a series from (seed, p, k, j), of an instance from
    (seed, p, k, j, i) and the image flags. So the first N patients of a bigger corpus
    are exactly the N-patient corpus (same other flags), and likewise for studies, series
    and instances: growing a count only adds files.
  * Layout: p<6 digits p>/st<2 digits k>/se<3 digits j>/<5 digits i>.dcm; the series
    directories are the only directories three levels below --out.
  * Modality of study k of patient p: MODALITIES[(p + k) mod len(MODALITIES)] with
    MODALITIES from --modalities (default CT,MR,CR,MG,US,XA). Patient 0's study 0 is
    therefore the first listed modality (CT by default); all series of a study share
    its modality.
  * Character set of patient p (--charset mixed, the default): the p mod 4-th of
    ISO_IR 100 (German names, umlauts), ISO_IR 192 (UTF-8 names mixing scripts:
    Latin with diacritics beyond Latin-1, Latin+Greek, Latin+Cyrillic; patients with
    (p div 4) mod 3 = 2 have Japanese component groups, e.g. patient 9), ISO_IR 126
    (Greek), ISO_IR 144 (Cyrillic). All the patient's text (names, physician,
    institution, descriptions) is written in that set, and
    SpecificCharacterSet says so. --charset CS forces one set for every patient; with
    --charset ascii names are plain ASCII and SpecificCharacterSet is absent.
  * Identifiers: PatientID PID<seed mod 100, 2 digits><p, 6 digits> (e.g. PID01000042),
    AccessionNumber ACC<seed mod 100, 2 digits><p, 6 digits><k, 2 digits>, StudyID k+1,
    SeriesNumber j+1, InstanceNumber i+1; UIDs are 2.25.<decimal of a SHA-256 of seed
    and indexes> (so two seeds never share a UID).
  * Pixels: MONOCHROME2, one sample; --bits 16 (default: BitsStored 12) or --bits 8;
    an elliptic "body" with smooth waves and small deterministic noise on a dark noisy
    background, different for every instance and frame. --frames N > 1 gives N-frame
    objects with NumberOfFrames: Enhanced CT / Enhanced MR (with functional groups), US
    Multi-frame, XA, Breast Tomosynthesis (MG), Multi-frame Grayscale Word/Byte SC (CR).
  * manifest.tsv: a header line, then one line per instance in (p, k, j, i) order with
    the tab-separated columns
      path patient_id study_uid series_uid sop_uid modality sop_class charset
      patient_name study_date accession bits frames
    path is relative to --out; charset is the SpecificCharacterSet value ("" for
    ascii); patient_name is the decoded name in UTF-8. The first six columns are stable;
    new columns are only ever appended.
"""
import argparse
import array
import hashlib
import math
import multiprocessing
import os
import random
import sys

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

GENERATOR = "tresor-make-studies-1"
IMPLEMENTATION_VERSION = "TRESOR_MKSTUD1"

MIXED_ORDER = ["ISO_IR 100", "ISO_IR 192", "ISO_IR 126", "ISO_IR 144"]
CHARSETS = MIXED_ORDER + ["ascii"]
PY_CODEC = {"ISO_IR 100": "latin_1", "ISO_IR 126": "iso8859_7",
            "ISO_IR 144": "iso8859_5", "ISO_IR 192": "utf-8", "ascii": "ascii"}
MODALITIES = ["CT", "MR", "CR", "MG", "US", "XA"]

# Names and texts per character set. Each entry must be encodable in its set (checked
# when the module loads).
SURNAMES = {
    "ISO_IR 100": ["Müller", "Schäfer", "Köhler", "Jäger", "Weiß", "Krüger", "Böhm",
                   "Günther", "Förster", "Möller", "Hoffmann", "Bäcker", "Groß",
                   "Schröder", "Lührs", "Dürr"],
    "ISO_IR 192": ["Dvořák", "Łukasiewicz", "Yılmaz", "Nguyễn", "Øster-Łęcki",
                   "Müller-Παπαδάκη", "Petrović", "Şahin", "Kovač-Петров", "Ōtsuka",
                   "Núñez", "Ærøe", "Çelik", "Zieliński"],
    "ISO_IR 126": ["Παπαδόπουλος", "Οικονόμου", "Γεωργίου", "Δημητρίου", "Νικολάου",
                   "Αθανασίου", "Χριστοδούλου", "Ιωάννου", "Καραγιάννης", "Βλάχος",
                   "Ζαχαρίου", "Ψαρράς"],
    "ISO_IR 144": ["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева",
                   "Волков", "Фёдорова", "Морозов", "Щербакова", "Жуков", "Яковлева"],
    "ascii": ["Smith", "Johnson", "Miller", "Brown", "Davis", "Wilson", "Taylor",
              "Clark", "Lewis", "Walker", "O'Neill", "Young"],
}
GIVEN = {
    "ISO_IR 100": ["Jürgen", "Jörg", "Käthe", "Björn", "Sören", "Ute", "Gisela", "Hans",
                   "Anna", "Lübbe", "Margarethe", "Öskar"],
    "ISO_IR 192": ["Zoë", "Paweł", "Ayşe", "Thị Hương", "Đorđe", "Ελένη", "Ольга",
                   "Jiří", "Ștefan", "Ľudmila", "Håkon", "Eliška"],
    "ISO_IR 126": ["Γιάννης", "Μαρία", "Νίκος", "Ελένη", "Δημήτρης", "Σοφία", "Κώστας",
                   "Αικατερίνη", "Σπύρος", "Ευαγγελία"],
    "ISO_IR 144": ["Иван", "Ольга", "Дмитрий", "Наталья", "Сергей", "Анна", "Пётр",
                   "Юлия", "Михаил", "Екатерина"],
    "ascii": ["John", "Mary", "Robert", "Linda", "James", "Susan", "David", "Karen",
              "Peter", "Emma"],
}
# UTF-8 patients sometimes carry ideographic and phonetic component groups.
JAPANESE = [("Yamada^Tarou", "山田^太郎", "やまだ^たろう"),
            ("Suzuki^Hanako", "鈴木^花子", "すずき^はなこ"),
            ("Tanaka^Ichirou", "田中^一郎", "たなか^いちろう")]
INSTITUTIONS = {
    "ISO_IR 100": ["Universitätsklinikum Köln", "Städtisches Klinikum München",
                   "Krankenhaus Lübeck-Süd"],
    "ISO_IR 192": ["Szpital Wojewódzki w Łodzi", "Nemocnice Čáslav",
                   "Hôpital Saint-Éloi – Service d'imagerie"],
    "ISO_IR 126": ["Γενικό Νοσοκομείο Αθηνών", "Νοσοκομείο Θεσσαλονίκης"],
    "ISO_IR 144": ["Городская больница №1", "Областная клиническая больница"],
    "ascii": ["General Hospital", "St. Mary's Medical Center"],
}
# Modality words and body part words per language, for StudyDescription.
MOD_WORD = {
    "ISO_IR 100": {"CT": "CT", "MR": "MRT", "CR": "Röntgen", "MG": "Mammographie",
                   "US": "Sonographie", "XA": "Angiographie"},
    "ISO_IR 192": {"CT": "CT", "MR": "MRI", "CR": "X-ray", "MG": "Mammography",
                   "US": "Ultrasound", "XA": "Angiography"},
    "ISO_IR 126": {"CT": "Αξονική τομογραφία", "MR": "Μαγνητική τομογραφία",
                   "CR": "Ακτινογραφία", "MG": "Μαστογραφία", "US": "Υπερηχογράφημα",
                   "XA": "Αγγειογραφία"},
    "ISO_IR 144": {"CT": "КТ", "MR": "МРТ", "CR": "Рентгенография", "MG": "Маммография",
                   "US": "УЗИ", "XA": "Ангиография"},
    "ascii": {"CT": "CT", "MR": "MR", "CR": "X-ray", "MG": "Mammography",
              "US": "Ultrasound", "XA": "Angiography"},
}
BODY_PARTS = {"CT": ["CHEST", "ABDOMEN", "HEAD"], "MR": ["HEAD", "KNEE", "LSPINE"],
              "CR": ["CHEST", "HAND"], "MG": ["BREAST"], "US": ["ABDOMEN", "NECK"],
              "XA": ["HEART"]}
BODY_WORD = {
    "ISO_IR 100": {"CHEST": "Thorax", "ABDOMEN": "Abdomen", "HEAD": "Schädel",
                   "KNEE": "Kniegelenk", "LSPINE": "LWS", "HAND": "Hand",
                   "BREAST": "beidseits", "NECK": "Hals", "HEART": "Koronarien"},
    "ISO_IR 192": {"CHEST": "chest → Θώρακας", "ABDOMEN": "abdomen – Bauch",
                   "HEAD": "head / Голова", "KNEE": "knee – genou", "LSPINE": "L-spine",
                   "HAND": "hand – mão", "BREAST": "bilateral • both", "NECK": "neck",
                   "HEART": "coronary – Herz"},
    "ISO_IR 126": {"CHEST": "θώρακος", "ABDOMEN": "κοιλίας", "HEAD": "εγκεφάλου",
                   "KNEE": "γόνατος", "LSPINE": "οσφυϊκής μοίρας", "HAND": "χεριού",
                   "BREAST": "αμφοτερόπλευρη", "NECK": "τραχήλου", "HEART": "καρδιάς"},
    "ISO_IR 144": {"CHEST": "грудной клетки", "ABDOMEN": "брюшной полости",
                   "HEAD": "головы", "KNEE": "коленного сустава", "LSPINE": "поясничного отдела",
                   "HAND": "кисти", "BREAST": "обеих желёз", "NECK": "шеи", "HEART": "сердца"},
    "ascii": {"CHEST": "chest", "ABDOMEN": "abdomen", "HEAD": "head", "KNEE": "knee",
              "LSPINE": "lumbar spine", "HAND": "hand", "BREAST": "bilateral",
              "NECK": "neck", "HEART": "coronary"},
}
SERIES_WORDS = {"CT": ["Axial 5mm", "Axial 1mm", "Coronal MPR", "Sagittal MPR"],
                "MR": ["T1 SE sag", "T2 TSE ax", "FLAIR cor", "DWI b1000"],
                "CR": ["PA", "Lateral", "AP"], "MG": ["RCC", "LCC", "RMLO", "LMLO"],
                "US": ["B-mode", "Doppler"], "XA": ["LAO 30", "RAO 30", "Cranial"]}
SOP_SINGLE = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
              "CR": "1.2.840.10008.5.1.4.1.1.1", "MG": "1.2.840.10008.5.1.4.1.1.1.2",
              "US": "1.2.840.10008.5.1.4.1.1.6.1", "XA": "1.2.840.10008.5.1.4.1.1.12.1"}
SOP_MULTI = {"CT": "1.2.840.10008.5.1.4.1.1.2.1", "MR": "1.2.840.10008.5.1.4.1.1.4.1",
             "US": "1.2.840.10008.5.1.4.1.1.3.1", "XA": "1.2.840.10008.5.1.4.1.1.12.1",
             "MG": "1.2.840.10008.5.1.4.1.1.13.1.3"}
SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"   # Multi-frame Grayscale Word SC
SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"   # Multi-frame Grayscale Byte SC
ENHANCED = {"1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4.1",
            "1.2.840.10008.5.1.4.1.1.13.1.3"}
FRAME_TIME_POINTER = 0x00181063  # (0018,1063) FrameTime


def _check_tables():
    for cs in CHARSETS:
        texts = (SURNAMES[cs] + GIVEN[cs] + INSTITUTIONS[cs] + list(MOD_WORD[cs].values())
                 + list(BODY_WORD[cs].values()))
        for t in texts:
            t.encode(PY_CODEC[cs])  # raises if a text does not fit its character set


_check_tables()


def uid(seed, *parts):
    """A 2.25 UID (at most 64 characters) from the seed and the entity's indexes."""
    text = "/".join([GENERATOR, str(seed)] + [str(x) for x in parts])
    digest = hashlib.sha256(text.encode()).digest()[:16]
    return "2.25." + str(int.from_bytes(digest, "big") >> 1)


def rng(seed, *parts):
    return random.Random("/".join([GENERATOR, str(seed)] + [str(x) for x in parts]))


def charset_of(opts, p):
    return MIXED_ORDER[p % 4] if opts.charset == "mixed" else opts.charset


def person_name(r, cs, p=None):
    """A random name of the character set; the UTF-8 patients p with (p div 4) mod 3 = 2
    get alphabetic, ideographic and phonetic component groups."""
    if cs == "ISO_IR 192" and p is not None and (p // 4) % 3 == 2:
        return "=".join(r.choice(JAPANESE))
    return f"{r.choice(SURNAMES[cs])}^{r.choice(GIVEN[cs])}"


def patient_values(opts, p):
    cs = charset_of(opts, p)
    r = rng(opts.seed, "patient", p)
    year, month, day = r.randint(1930, 2015), r.randint(1, 12), r.randint(1, 28)
    birth = f"{year:04d}{month:02d}{day:02d}"
    return {"charset": cs, "name": person_name(r, cs, p),
            "id": f"PID{opts.seed % 100:02d}{p:06d}", "birth": birth,
            "sex": r.choice(["F", "M", "F", "M", "O"])}


def study_values(opts, p, k):
    cs = charset_of(opts, p)
    r = rng(opts.seed, "study", p, k)
    modality = opts.modalities[(p + k) % len(opts.modalities)]
    part = r.choice(BODY_PARTS[modality])
    year, month, day = r.randint(2010, 2024), r.randint(1, 12), r.randint(1, 28)
    hour, minute, second = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    return {"uid": uid(opts.seed, "study", p, k), "modality": modality, "body_part": part,
            "date": f"{year:04d}{month:02d}{day:02d}",
            "time": f"{hour:02d}{minute:02d}{second:02d}",
            "accession": f"ACC{opts.seed % 100:02d}{p:06d}{k:02d}",
            "description": f"{MOD_WORD[cs][modality]} {BODY_WORD[cs][part]}",
            "institution": r.choice(INSTITUTIONS[cs]),
            "referring": f"{r.choice(SURNAMES[cs])}^{r.choice(GIVEN[cs])}^^Dr."}


def sop_class_of(opts, modality):
    if opts.frames == 1:
        return SOP_SINGLE[modality]
    return SOP_MULTI.get(modality, SC_BYTE if opts.bits == 8 else SC_WORD)


# ---------------------------------------------------------------- pixels

def _frame_pixels(opts, key, position):
    """One frame: rows x cols samples as little-endian bytes. An ellipse of smooth waves
    with small noise on a dark noisy background; `position` moves and resizes the
    ellipse, so neighbouring slices look alike."""
    rows, cols = opts.rows, opts.cols
    r = random.Random(key)
    top = (1 << (12 if opts.bits == 16 else 8)) - 1
    noise = max(1, top // 512)
    kind = "H" if opts.bits == 16 else "B"
    size = 2 if opts.bits == 16 else 1
    bands = 4
    period1, period2 = r.uniform(8, 40), r.uniform(40, 160)
    phase1, phase2 = r.uniform(0, 2 * math.pi), r.uniform(0, 2 * math.pi)
    tissue = []
    for b in range(bands):
        base = top * (0.35 + 0.1 * b + 0.05 * math.sin(position))
        amp1, amp2 = top * 0.08, top * 0.12
        values = array.array(kind, (
            min(top, max(0, int(base + amp1 * math.sin(x / period1 * 2 * math.pi + phase1)
                              + amp2 * math.sin(x / period2 * 2 * math.pi + phase2))
                        + r.randint(-noise, noise)))
            for x in range(2 * cols)))
        if sys.byteorder == "big" and size == 2:
            values.byteswap()
        tissue.append(values.tobytes())
    background = array.array(kind, (r.randint(0, noise * 2) for _ in range(cols)))
    if sys.byteorder == "big" and size == 2:
        background.byteswap()
    background = background.tobytes()
    cy = rows / 2 + rows * 0.05 * math.sin(position * 0.7)
    cx = cols / 2 + cols * 0.05 * math.cos(position * 0.5)
    ry = rows * (0.38 + 0.04 * math.sin(position))
    rx = cols * (0.42 + 0.04 * math.cos(position * 1.3))
    step = r.randint(1, 7)
    out = []
    for y in range(rows):
        dy = (y + 0.5 - cy) / ry
        if abs(dy) >= 1:
            out.append(background)
            continue
        half = rx * math.sqrt(1 - dy * dy)
        c0, c1 = max(0, int(cx - half)), min(cols, int(cx + half))
        if c1 <= c0:
            out.append(background)
            continue
        t = tissue[min(bands - 1, y * bands // rows)]
        s = (y * step) % cols
        out.append(background[:c0 * size] + t[s * size:(s + c1 - c0) * size]
                   + background[c1 * size:])
    return b"".join(out)


# ---------------------------------------------------------------- data sets

def make_dataset(opts, p, k, j, i):
    pat, st = patient_values(opts, p), study_values(opts, p, k)
    cs, modality = pat["charset"], st["modality"]
    sop_class = sop_class_of(opts, modality)
    sop_uid = uid(opts.seed, "instance", p, k, j, i)
    series_uid = uid(opts.seed, "series", p, k, j)
    sr = rng(opts.seed, "series", p, k, j)
    series_descr = sr.choice(SERIES_WORDS[modality])
    series_time = st["time"]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid(0, "implementation")
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION

    ds = Dataset()
    ds.file_meta = meta
    if cs != "ascii":
        ds.SpecificCharacterSet = cs
    multi = opts.frames > 1
    if sop_class in ENHANCED:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    elif modality in ("CT", "MR"):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = st["date"]
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = series_time
    ds.AccessionNumber = st["accession"]
    ds.Modality = modality
    if sop_class in (SC_WORD, SC_BYTE):
        ds.ConversionType = "WSD"
    ds.Manufacturer = "Tresor synthetic"
    ds.InstitutionName = st["institution"]
    ds.ReferringPhysicianName = st["referring"]
    ds.StudyDescription = st["description"]
    ds.SeriesDescription = series_descr
    ds.PatientName = pat["name"]
    ds.PatientID = pat["id"]
    ds.PatientBirthDate = pat["birth"]
    ds.PatientSex = pat["sex"]
    ds.BodyPartExamined = st["body_part"]
    thickness = 5.0 if modality in ("CT", "MR") else 1.0
    if modality in ("CT", "MR") and not multi:
        ds.SliceThickness = f"{thickness:.1f}"
    if modality == "CT":
        ds.KVP = "120"
    ds.StudyInstanceUID = st["uid"]
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = str(k + 1)
    ds.SeriesNumber = j + 1
    ds.InstanceNumber = i + 1
    spacing = 0.7 if modality in ("CT", "MR") else 0.1
    origin = [-spacing * opts.cols / 2, -spacing * opts.rows / 2]

    def z_of(frame):
        return -(i * opts.frames + frame) * thickness

    if modality in ("CT", "MR") and not multi:
        ds.ImagePositionPatient = [f"{origin[0]:.2f}", f"{origin[1]:.2f}", f"{z_of(0):.2f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = uid(opts.seed, "frame-of-reference", p, k)
        ds.SliceLocation = f"{z_of(0):.2f}"
    elif modality in ("CT", "MR"):
        ds.FrameOfReferenceUID = uid(opts.seed, "frame-of-reference", p, k)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if multi:
        ds.NumberOfFrames = opts.frames
        if sop_class not in ENHANCED:
            ds.FrameTime = "33.3"
            ds.FrameIncrementPointer = FRAME_TIME_POINTER
    ds.Rows, ds.Columns = opts.rows, opts.cols
    if not multi or sop_class not in ENHANCED:
        ds.PixelSpacing = [f"{spacing:.2f}", f"{spacing:.2f}"]
    ds.BitsAllocated = opts.bits
    ds.BitsStored = 12 if opts.bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if modality == "CT" and not multi:
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    if not multi or sop_class not in ENHANCED:
        top = (1 << ds.BitsStored) - 1
        ds.WindowCenter, ds.WindowWidth = str(top // 2), str(top)
    if sop_class in ENHANCED:
        measures = Dataset()
        measures.PixelSpacing = [f"{spacing:.2f}", f"{spacing:.2f}"]
        measures.SliceThickness = f"{thickness:.1f}"
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        if modality in ("CT", "MR"):
            orientation = Dataset()
            orientation.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            shared.PlaneOrientationSequence = Sequence([orientation])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        frames = []
        for f in range(opts.frames):
            content = Dataset()
            content.InStackPositionNumber = f + 1
            content.DimensionIndexValues = [f + 1]
            item = Dataset()
            item.FrameContentSequence = Sequence([content])
            if modality in ("CT", "MR"):
                position = Dataset()
                position.ImagePositionPatient = [f"{origin[0]:.2f}", f"{origin[1]:.2f}",
                                                 f"{z_of(f):.2f}"]
                item.PlanePositionSequence = Sequence([position])
            frames.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(
        _frame_pixels(opts, "/".join(map(str, (GENERATOR, opts.seed, "px", p, k, j, i, f))),
                      (i * opts.frames + f) * 0.15 + j)
        for f in range(opts.frames))
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds, pat, st, sop_class


def relative_path(p, k, j, i):
    return f"p{p:06d}/st{k:02d}/se{j:03d}/{i:05d}.dcm"


def write_instance(opts, p, k, j, i):
    """Writes one instance; returns its manifest line."""
    ds, pat, st, sop_class = make_dataset(opts, p, k, j, i)
    rel = relative_path(p, k, j, i)
    path = os.path.join(opts.out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, write_like_original=False)
    return "\t".join([rel, pat["id"], st["uid"], str(ds.SeriesInstanceUID),
                      str(ds.SOPInstanceUID), st["modality"], sop_class,
                      "" if pat["charset"] == "ascii" else pat["charset"], pat["name"],
                      st["date"], st["accession"], str(opts.bits), str(opts.frames)])


MANIFEST_COLUMNS = ["path", "patient_id", "study_uid", "series_uid", "sop_uid", "modality",
                    "sop_class", "charset", "patient_name", "study_date", "accession",
                    "bits", "frames"]

_OPTS = None


def _init_worker(opts):
    global _OPTS
    _OPTS = opts


def _work(index):
    return write_instance(_OPTS, *index)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="make_studies.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Writes a deterministic synthetic DICOM corpus and its manifest.",
        epilog=__doc__.split("\n", 2)[2])

    def positive(text):
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
        return value

    parser.add_argument("--out", required=True,
                        help="output directory (created; must be empty or absent)")
    parser.add_argument("--patients", type=positive, default=1, help="patients (default 1)")
    parser.add_argument("--studies", type=positive, default=1, help="studies per patient (default 1)")
    parser.add_argument("--series", type=positive, default=1, help="series per study (default 1)")
    parser.add_argument("--instances", type=positive, default=1,
                        help="instances per series (default 1)")
    parser.add_argument("--rows", type=positive, default=64, help="image rows (default 64)")
    parser.add_argument("--cols", type=positive, default=64, help="image columns (default 64)")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=16,
                        help="BitsAllocated: 16 (BitsStored 12, default) or 8")
    parser.add_argument("--frames", type=positive, default=1,
                        help="frames per instance; > 1 gives multi-frame SOP classes (default 1)")
    parser.add_argument("--seed", type=int, default=1,
                        help="varies every value and UID (default 1); PatientID and "
                             "AccessionNumber carry seed mod 100")
    def charset(text):
        value = " ".join(text.split()).replace("ISO_IR_", "ISO_IR ")
        value = "ISO_IR " + value if value.isdigit() else value
        if value not in ["mixed"] + CHARSETS:
            raise argparse.ArgumentTypeError(
                f"{text!r}: choose mixed, {', '.join(repr(c) for c in CHARSETS)}")
        return value

    parser.add_argument("--charset", default="mixed", type=charset, metavar="CHARSET",
                        help="mixed (default: per patient, see below) or one set for all: "
                             "'ISO_IR 100', 'ISO_IR 126', 'ISO_IR 144', 'ISO_IR 192' (also "
                             "written ISO_IR_192 or 192), ascii")
    parser.add_argument("--modalities", default=",".join(MODALITIES),
                        help="comma list, in the order studies cycle through "
                             f"(default {','.join(MODALITIES)})")
    parser.add_argument("--jobs", type=positive, default=1,
                        help="worker processes (default 1); the output does not depend on it")
    opts = parser.parse_args(argv)
    opts.modalities = [m.strip().upper() for m in opts.modalities.split(",") if m.strip()]
    unknown = [m for m in opts.modalities if m not in MODALITIES]
    if not opts.modalities or unknown:
        parser.error(f"--modalities: choose from {','.join(MODALITIES)} (got {unknown or 'none'})")
    if os.path.exists(opts.out) and (not os.path.isdir(opts.out) or os.listdir(opts.out)):
        parser.error(f"--out {opts.out}: exists and is not an empty directory")
    return opts


def main(argv):
    opts = parse_args(argv)
    os.makedirs(opts.out, exist_ok=True)
    indexes = [(p, k, j, i) for p in range(opts.patients) for k in range(opts.studies)
               for j in range(opts.series) for i in range(opts.instances)]
    if opts.jobs == 1:
        lines = [write_instance(opts, *index) for index in indexes]
    else:
        with multiprocessing.Pool(opts.jobs, _init_worker, (opts,)) as pool:
            lines = pool.map(_work, indexes, chunksize=max(1, len(indexes) // (opts.jobs * 8)))
    with open(os.path.join(opts.out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("\t".join(MANIFEST_COLUMNS) + "\n")
        for line in lines:
            f.write(line + "\n")
    print(f"make_studies: {len(lines)} instances in {opts.out} (pydicom {pydicom.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

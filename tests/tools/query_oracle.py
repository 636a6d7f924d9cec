#!/usr/bin/python3
"""query_oracle.py: what a C-FIND against a set of DICOM files should answer.

  query_oracle.py extras OUT
      write fixed test patients (Greek ISO_IR 126 without accents, Cyrillic ISO_IR 144,
      Latin-1 ISO_IR 100, Turkish UTF-8 with a dotless i) as Part 10 files under OUT
      (deterministic), next to a tests/tools/make_studies.py corpus
  query_oracle.py names MANIFEST.tsv NAMES.tsv
      print shell assignments (for eval) of names and patterns picked from a
      make_studies.py manifest, and write NAMES.tsv: one line per patient
      with charset, name, number of studies and the name folded as --fuzzy folds it
  query_oracle.py fold TEXT
      print TEXT folded as --fuzzy folds person names
  query_oracle.py index INDEX.json DIR...
      read every *.dcm under the DIRs (names decoded per SpecificCharacterSet)
  query_oracle.py expect INDEX.json LEVEL [--fuzzy] KEY=VALUE...
      print the unique keys of the matching entities, sorted, one per line
  query_oracle.py value INDEX.json KEYWORD KEY=VALUE...
      print the distinct values of KEYWORD among the instances matching the keys
  query_oracle.py compare INDEX.json LEVEL RSPDIR [--fuzzy] KEY=VALUE...
      compare findscu's extracted responses (RSPDIR/rsp*.dcm) with the expectation:
      the same set of entities, each once, and every returned attribute of the
      query level or above (stored or computed) equal to the files' value

Matching follows PS3.4 C.2.2.2 as Tresor implements it: empty = universal; `*`/`?`
wildcards on text and names (case-sensitive, per character); a-b, a-, -b ranges on
dates and times; backslash UID lists; ModalitiesInStudy/SOPClassesInStudy match if any
series/instance has the value. Keys of a level below the query level are ignored.
With --fuzzy, person names match ignoring case and accents of Latin letters.
"""
import glob, hashlib, json, os, re, sys, unicodedata

import pydicom

LEVELS = ["PATIENT", "STUDY", "SERIES", "IMAGE"]
UNIQUE = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
          "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
# Stored attributes: keyword -> (level, kind)
STORED = {
    "PatientName": ("PATIENT", "PN"), "PatientID": ("PATIENT", "text"),
    "IssuerOfPatientID": ("PATIENT", "text"), "PatientBirthDate": ("PATIENT", "date"),
    "PatientSex": ("PATIENT", "text"),
    "StudyInstanceUID": ("STUDY", "UI"), "StudyDate": ("STUDY", "date"),
    "StudyTime": ("STUDY", "time"), "AccessionNumber": ("STUDY", "text"),
    "StudyID": ("STUDY", "text"), "StudyDescription": ("STUDY", "text"),
    "ReferringPhysicianName": ("STUDY", "PN"), "InstitutionName": ("STUDY", "text"),
    "SeriesInstanceUID": ("SERIES", "UI"), "Modality": ("SERIES", "text"),
    "SeriesNumber": ("SERIES", "text"), "SeriesDescription": ("SERIES", "text"),
    "BodyPartExamined": ("SERIES", "text"),
    "SOPInstanceUID": ("IMAGE", "UI"), "SOPClassUID": ("IMAGE", "UI"),
    "InstanceNumber": ("IMAGE", "text"),
}
# Computed attributes: keyword -> (level, what is counted or listed)
COMPUTED = {
    "NumberOfPatientRelatedStudies": ("PATIENT", "StudyInstanceUID"),
    "NumberOfPatientRelatedSeries": ("PATIENT", "SeriesInstanceUID"),
    "NumberOfPatientRelatedInstances": ("PATIENT", "SOPInstanceUID"),
    "NumberOfStudyRelatedSeries": ("STUDY", "SeriesInstanceUID"),
    "NumberOfStudyRelatedInstances": ("STUDY", "SOPInstanceUID"),
    "NumberOfSeriesRelatedInstances": ("SERIES", "SOPInstanceUID"),
    "ModalitiesInStudy": ("STUDY", "Modality"),
    "SOPClassesInStudy": ("STUDY", "SOPClassUID"),
}


# ---------------------------------------------------------------- extra test files

EXTRAS = [  # charset, patient name, patient id, study description, birth date, instances
    ("ISO_IR 126", "Διονυσιος^Γιαννης", "XGR1", "Αξονική θώρακος", "19700102", 2),
    ("ISO_IR 144", "Люксембург^Иван", "XCY1", "Компьютерная томография", "19800304", 1),
    ("ISO_IR 100", "Ångström^Françoise", "XL11", "Tête thorax", "19900506", 1),
    ("ISO_IR 192", "Yılmaz^Ayşe", "XTR1", "Göğüs BT", "19850607", 1),
]


def make_extras(out):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    def uid(*parts):
        h = hashlib.sha256("/".join(("query-extras",) + parts).encode()).digest()[:15]
        return "2.25." + str(int.from_bytes(h, "big"))

    os.makedirs(out, exist_ok=True)
    for n, (charset, name, pid, descr, birth, count) in enumerate(EXTRAS):
        for i in range(count):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            meta.MediaStorageSOPInstanceUID = uid(pid, "sop", str(i))
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = "2.25.1234567890"
            ds = Dataset()
            ds.file_meta = meta
            ds.SpecificCharacterSet = charset
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.PatientName, ds.PatientID = name, pid
            ds.PatientBirthDate, ds.PatientSex = birth, "O"
            ds.StudyInstanceUID = uid(pid, "study")
            ds.StudyDate, ds.StudyTime = f"20120{n + 1}15", "101500"
            ds.AccessionNumber, ds.StudyID = f"ACC{pid}", "1"
            ds.StudyDescription = descr
            ds.SeriesInstanceUID = uid(pid, "series")
            ds.Modality, ds.SeriesNumber = "CT", 1
            ds.InstanceNumber = i + 1
            ds.Rows = ds.Columns = 8
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.PixelData = bytes(range(128))
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(os.path.join(out, f"{pid}-{i}.dcm"), write_like_original=False)


# ---------------------------------------------------------------- index of the files

def read_files(dirs):
    records = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "**", "*.dcm"), recursive=True)):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            records.append({k: str(ds.get(k, "")) for k in STORED})
    return records


# ---------------------------------------------------------------- matching

# Latin letters without a canonical decomposition, folded by their look.
LOOKALIKE = {"ß": "s", "æ": "a", "œ": "o", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i",
             "ł": "l", "ŀ": "l", "ŧ": "t", "þ": "t", "ŋ": "n", "ĸ": "k", "ſ": "s", "ƀ": "b",
             "ƚ": "l", "ɇ": "e"}


def fold(text):
    """Latin letters in lower case without accents, for fuzzy person names: "Müller^Jörg"
    -> "muller^jorg", "Yılmaz" -> "yilmaz", "Thị" -> "thi". Covers ASCII and the blocks
    U+00C0-U+024F and U+1E00-U+1EFF; other scripts are left as they are."""
    out = []
    for c in text:
        if c.isascii():
            c = c.lower()
        elif 0xC0 <= ord(c) < 0x250 or 0x1E00 <= ord(c) < 0x1F00:
            low = c.lower() if len(c.lower()) == 1 else c
            parts = unicodedata.normalize("NFD", low)
            base = parts[0]
            if low in LOOKALIKE:
                c = LOOKALIKE[low]
            elif base.isascii() and base.isalpha() and all(unicodedata.combining(p) for p in parts[1:]):
                c = base.lower()
        out.append(c)
    return "".join(out)


def wildcard(pattern):
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern) + r"\Z", re.S)


def matches(kind, key, value, fuzzy):
    """Does the stored `value` match the matching key `key` (non-empty)?"""
    if kind == "UI":
        return value in key.split("\\")
    if kind in ("date", "time") and "-" in key:
        low, high = key.split("-", 1)
        if kind == "time":  # a partial time covers the whole hour/minute
            low, high = low.ljust(6, "0"), (high.ljust(6, "9") if high else "")
            value = value[:6]
        return (not low or value >= low) and (not high or value <= high)
    if kind == "PN" and fuzzy:
        key, value = fold(key), fold(value)
    if kind in ("text", "PN") and ("*" in key or "?" in key):
        return wildcard(key).match(value) is not None
    return value == key


def entities(records, level):
    """Group the instances by the unique key of `level`."""
    groups = {}
    for r in records:
        groups.setdefault(r[UNIQUE[level]], []).append(r)
    return groups


def computed(records, keyword, rep):
    level, what = COMPUTED[keyword]
    related = [r for r in records if r[UNIQUE[level]] == rep[UNIQUE[level]]]
    values = {r[what] for r in related}
    if keyword.startswith("NumberOf"):
        return str(len(values))
    return sorted(values)


def expect(records, level, keys, fuzzy):
    """{unique key: representative record} of the entities matching all keys."""
    depth = LEVELS.index(level)
    result = {}
    for uid, group in entities(records, level).items():
        rep = group[0]
        ok = True
        for keyword, key in keys.items():
            if key == "":
                continue
            if keyword in STORED:
                attr_level, kind = STORED[keyword]
                if LEVELS.index(attr_level) > depth:
                    continue  # below the query level: ignored
                ok = matches(kind, key, rep[keyword], fuzzy)
            elif keyword in ("ModalitiesInStudy", "SOPClassesInStudy"):
                if depth < LEVELS.index("STUDY"):
                    continue
                ok = key in computed(records, keyword, rep)
            if not ok:
                break
        if ok:
            result[uid] = rep
    return result


# ---------------------------------------------------------------- comparison

def compare(records, level, rspdir, keys, fuzzy):
    want = expect(records, level, keys, fuzzy)
    depth = LEVELS.index(level)
    files = sorted(glob.glob(os.path.join(rspdir, "rsp*.dcm")))
    errors = []
    got = []
    for f in files:
        ds = pydicom.dcmread(f, force=True)
        cs = ds.get("SpecificCharacterSet", "")
        if cs != "ISO_IR 192":
            errors.append(f"{os.path.basename(f)}: SpecificCharacterSet {cs!r}, want 'ISO_IR 192'")
        ds.SpecificCharacterSet = "ISO_IR 192"  # decode as UTF-8 in any case
        uid = str(ds.get(UNIQUE[level], ""))
        got.append(uid)
        if uid not in want:
            continue
        rep = want[uid]
        for keyword in keys:
            if keyword not in ds:
                continue
            elem = ds[keyword]
            if keyword in STORED:
                if LEVELS.index(STORED[keyword][0]) > depth:
                    continue
                value, expected = str(elem.value), rep[keyword]
            elif keyword in COMPUTED:
                if LEVELS.index(COMPUTED[keyword][0]) > depth:
                    continue
                expected = computed(records, keyword, rep)
                if isinstance(expected, list):
                    v = elem.value
                    value = sorted(str(x) for x in (v if isinstance(v, pydicom.multival.MultiValue) else [v]))
                else:
                    value = str(elem.value)
            else:
                continue
            if value != expected:
                errors.append(f"{uid} {keyword}: got {value!r}, want {expected!r}")
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    dups = sorted({u for u in got if got.count(u) > 1})
    for u in missing:
        errors.append(f"missing {u}")
    for u in extra:
        errors.append(f"unexpected {u}")
    for u in dups:
        errors.append(f"duplicate {u}")
    print(f"{len(files)} responses, {len(want)} expected")
    for e in errors:
        print(e)
    return not errors


# ---------------------------------------------------------------- names of a corpus

def names(manifest, names_out):
    """The patients of a make_studies.py manifest and query patterns made from them."""
    import shlex
    patients = {}
    with open(manifest, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            patients.setdefault((r["charset"], r["patient_name"]), set()).add(r["study_uid"])
    with open(names_out, "w", encoding="utf-8") as f:
        for (cs, name), studies in patients.items():
            f.write(f"{cs}\t{name}\t{len(studies)}\t{fold(name)}\n")

    def first(cs, plain=True):
        for (c, name), studies in patients.items():
            if c == cs and (not plain or "=" not in name):
                return name, len(studies)
        sys.exit(f"no {cs} patient in {manifest}")

    def non_ascii(text):
        return next(i for i, c in enumerate(text) if ord(c) > 127)

    de, de_n = first("ISO_IR 100")
    de_sur = de.split("^")[0]
    utf, _ = first("ISO_IR 192")
    cy, cy_n = first("ISO_IR 144")
    gr, gr_n = first("ISO_IR 126")
    jp = next((n for (c, n) in patients if "=" in n), "")
    out = {
        "DE_NAME": de, "DE_STUDIES": de_n,
        "DE_PREFIX": de[:3] + "*",
        "DE_PREFIX_NONASCII": de[:non_ascii(de) + 1] + "*",
        "DE_LOWER_PREFIX": de[:3].lower() + "*",
        "DE_FOLD_PREFIX": fold(de_sur)[:4] + "*",
        "DE_UPPER_PREFIX": de_sur.upper() + "*",
        "DE_FOLD": fold(de),
        "UTF_NAME": utf,
        "UTF_ONE": utf[:non_ascii(utf)] + "?" + utf[non_ascii(utf) + 1:],
        "UTF_FOLD_INFIX": "*" + fold(utf.split("^")[0]).upper() + "*",
        "CY_NAME": cy, "CY_STUDIES": cy_n, "CY_WILD": "?" + cy[1:-1] + "?",
        "GR_NAME": gr, "GR_STUDIES": gr_n, "GR_PREFIX": gr[:4] + "*",
        "GR_LOWER_PREFIX": gr[:4].lower() + "*",
        "JP_NAME": jp,
    }
    for key, value in out.items():
        print(f"{key}={shlex.quote(str(value))}")


def parse_keys(args):
    keys = {}
    for a in args:
        k, _, v = a.partition("=")
        if k in keys:  # findscu would send only the last one
            sys.exit(f"{k} given twice")
        keys[k] = v
    return keys


def main(argv):
    cmd = argv[1]
    if cmd == "extras":
        make_extras(argv[2])
        return 0
    if cmd == "names":
        names(argv[2], argv[3])
        return 0
    if cmd == "fold":  # fold TEXT: print TEXT as --fuzzy folds it
        print(fold(argv[2]))
        return 0
    if cmd == "index":
        with open(argv[2], "w", encoding="utf-8") as f:
            json.dump(read_files(argv[3:]), f, ensure_ascii=False)
        return 0
    with open(argv[2], encoding="utf-8") as f:
        records = json.load(f)
    level, rest = argv[3], argv[4:]
    if cmd == "compare":
        rspdir, rest = rest[0], rest[1:]
    fuzzy = "--fuzzy" in rest
    keys = parse_keys(a for a in rest if a != "--fuzzy")
    if cmd == "expect":
        for uid in sorted(expect(records, level, keys, fuzzy)):
            print(uid)
        return 0
    if cmd == "value":  # here `level` is the keyword whose values are printed
        for value in sorted({r[level] for r in expect(records, "IMAGE", keys, fuzzy).values()}):
            print(value)
        return 0
    if cmd == "compare":
        return 0 if compare(records, level, rspdir, keys, fuzzy) else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""qido_check.py: QIDO-RS searches of a running Tresor against query_oracle.py.

  qido_check.py INDEX.json MANIFEST.tsv BASE_URL CA_FILE TOKEN

INDEX.json is `query_oracle.py index` of the stored files; MANIFEST.tsv the
make_studies.py manifest (for picking names, dates and UIDs to query). Runs searches at
every level with every matching kind and prints one line per check, "PASS what" or
"FAIL what: why", for tests/integration/qido.sh to count. Every search must return
exactly the entities query_oracle.py expects, each once, and every returned attribute
of the level or above must equal the files' value (names decoded from their character
set by pydicom, so Latin, Greek, Cyrillic and Japanese names are checked in UTF-8).
"""
import http.client
import json
import os
import ssl
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import query_oracle as oracle  # noqa: E402

LEVEL_OF = {"studies": "STUDY", "series": "SERIES", "instances": "IMAGE"}
TAGS = {  # keyword -> tag as QIDO returns it
    "SOPClassUID": "00080016", "SOPInstanceUID": "00080018", "StudyDate": "00080020",
    "StudyTime": "00080030", "AccessionNumber": "00080050", "Modality": "00080060",
    "ModalitiesInStudy": "00080061", "SOPClassesInStudy": "00080062",
    "InstitutionName": "00080080", "ReferringPhysicianName": "00080090",
    "StudyDescription": "00081030", "SeriesDescription": "0008103E",
    "PatientName": "00100010", "PatientID": "00100020", "IssuerOfPatientID": "00100021",
    "PatientBirthDate": "00100030", "PatientSex": "00100040", "BodyPartExamined": "00180015",
    "StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "StudyID": "00200010",
    "SeriesNumber": "00200011", "InstanceNumber": "00200013",
    "NumberOfStudyRelatedSeries": "00201206", "NumberOfStudyRelatedInstances": "00201208",
    "NumberOfSeriesRelatedInstances": "00201209",
}
KEYWORD_OF = {v: k for k, v in TAGS.items()}
STUDY_DEFAULTS = ["StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
                  "ReferringPhysicianName", "PatientName", "PatientID", "PatientBirthDate",
                  "PatientSex", "StudyInstanceUID", "StudyID", "NumberOfStudyRelatedSeries",
                  "NumberOfStudyRelatedInstances"]
SERIES_DEFAULTS = ["Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
                   "NumberOfSeriesRelatedInstances", "StudyInstanceUID"]
INSTANCE_DEFAULTS = ["SOPClassUID", "SOPInstanceUID", "InstanceNumber", "StudyInstanceUID",
                     "SeriesInstanceUID"]


class Client:
    def __init__(self, base, ca, token):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.check_hostname = False
        self.token = token
        self.conn = None

    def get(self, path, params=(), accept="application/dicom+json"):
        """GET /dicom-web + path with `params` (pairs, percent-encoded here)."""
        target = "/dicom-web" + path
        if params:
            target += "?" + "&".join(f"{urllib.parse.quote(k, safe='')}="
                                     f"{urllib.parse.quote(v, safe='')}" for k, v in params)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=30)
            try:
                self.conn.request("GET", target, headers={"Authorization": f"Bearer {self.token}",
                                                          "Accept": accept})
                r = self.conn.getresponse()
                body = r.read()
                return r.status, r.getheader("Content-Type", ""), r.getheaders(), body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


def text_of(attr):
    """An attribute of a QIDO response as the DICOM string query_oracle compares."""
    values = attr.get("Value", [])
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif isinstance(v, dict):  # PN
            groups = [v.get("Alphabetic", ""), v.get("Ideographic", ""), v.get("Phonetic", "")]
            out.append("=".join(groups).rstrip("="))
        else:
            out.append(str(v))
    return out


RESULTS = []


def report(ok, what, why=""):
    RESULTS.append(ok)
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else ": " + why), flush=True)


def expected(records, level, keys, fuzzy):
    """The oracle's entities; a list value is alternatives (the union of their matches)."""
    alternatives = [(k, v) for k, v in keys.items() if isinstance(v, list)]
    if not alternatives:
        return oracle.expect(records, level, keys, fuzzy)
    (key, values), = alternatives
    out = {}
    for v in values:
        out.update(oracle.expect(records, level, dict(keys, **{key: v}), fuzzy))
    return out


def compare(records, level, objects, keys, fuzzy, require=()):
    """Errors of a QIDO result against the oracle (empty list: equal)."""
    want = expected(records, level, keys, fuzzy)
    depth = oracle.LEVELS.index(level)
    unique_tag = TAGS[oracle.UNIQUE[level]]
    errors, got = [], []
    for obj in objects:
        uid = "".join(text_of(obj.get(unique_tag, {})))
        got.append(uid)
        if uid not in want:
            continue
        rep = want[uid]
        for keyword in require:
            if TAGS[keyword] not in obj:
                errors.append(f"{uid}: {keyword} missing")
        for tag, attr in obj.items():
            keyword = KEYWORD_OF.get(tag)
            if keyword is None:
                continue
            if keyword in oracle.STORED:
                if oracle.LEVELS.index(oracle.STORED[keyword][0]) > depth:
                    errors.append(f"{uid}: {keyword} is below the level")
                    continue
                value, exp = "\\".join(text_of(attr)), rep[keyword].rstrip("=")
            elif keyword in oracle.COMPUTED:
                exp = oracle.computed(records, keyword, rep)
                value = sorted(text_of(attr)) if isinstance(exp, list) else "".join(text_of(attr))
            else:
                continue
            if value != exp:
                errors.append(f"{uid} {keyword}: got {value!r}, want {exp!r}")
    for u in sorted(set(want) - set(got)):
        errors.append(f"missing {u}")
    for u in sorted(set(got) - set(want)):
        errors.append(f"unexpected {u}")
    for u in sorted({u for u in got if got.count(u) > 1}):
        errors.append(f"duplicate {u}")
    if not want:
        errors.append("the oracle expects nothing: a search that tests nothing")
    return errors


def search(client, records, what, path, params, keys, fuzzy=False, require=()):
    """One search compared with the oracle; `keys` are the oracle's matching keys."""
    level = LEVEL_OF[path.rsplit("/", 1)[-1]]
    status, ctype, _, body = client.get(path, params)
    if status != 200 or not ctype.startswith("application/dicom+json"):
        report(False, what, f"status {status}, type {ctype!r}: {body[:200]!r}")
        return None
    objects = json.loads(body.decode("utf-8"))
    errors = compare(records, level, objects, keys, fuzzy, require)
    report(not errors, what + f" ({len(objects)} matches)", "; ".join(errors[:8]))
    return objects


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        records = json.load(f)
    manifest = []
    with open(argv[2], encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            manifest.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    client = Client(argv[3], argv[4], argv[5])

    by_charset = {}
    for r in records:
        by_charset.setdefault(r["PatientID"], r)
    patients = list(by_charset.values())
    studies = sorted({r["StudyInstanceUID"] for r in records})
    first = records[0]
    st, se = first["StudyInstanceUID"], first["SeriesInstanceUID"]
    other_st = next(r["StudyInstanceUID"] for r in records if r["StudyInstanceUID"] != st)
    other_se = next(r["SeriesInstanceUID"] for r in records if r["SeriesInstanceUID"] != se)
    dates = sorted({r["StudyDate"] for r in records})
    times = sorted({r["StudyTime"] for r in records})
    low, high = dates[len(dates) // 4], dates[3 * len(dates) // 4]

    # Every level, no matching key: everything.
    search(client, records, "all studies, default attributes", "/studies", [], {},
           require=STUDY_DEFAULTS)
    search(client, records, "all series, study and series defaults", "/series", [], {},
           require=STUDY_DEFAULTS + SERIES_DEFAULTS)
    search(client, records, "all instances", "/instances", [], {},
           require=INSTANCE_DEFAULTS + SERIES_DEFAULTS)
    # Single values at every level, each path form.
    pid = first["PatientID"]
    search(client, records, "studies by PatientID", "/studies", [("PatientID", pid)],
           {"PatientID": pid})
    search(client, records, "studies by tag 00100020", "/studies", [("00100020", pid)],
           {"PatientID": pid})
    search(client, records, "series of a study", f"/studies/{st}/series", [],
           {"StudyInstanceUID": st}, require=SERIES_DEFAULTS)
    search(client, records, "instances of a series", f"/studies/{st}/series/{se}/instances", [],
           {"StudyInstanceUID": st, "SeriesInstanceUID": se}, require=INSTANCE_DEFAULTS)
    search(client, records, "instances of a study", f"/studies/{st}/instances", [],
           {"StudyInstanceUID": st}, require=INSTANCE_DEFAULTS + SERIES_DEFAULTS)
    search(client, records, "series by Modality", "/series", [("Modality", "MR")],
           {"Modality": "MR"})
    search(client, records, "instances by InstanceNumber", "/instances", [("InstanceNumber", "2")],
           {"InstanceNumber": "2"})
    search(client, records, "instances by SOPClassUID", "/instances",
           [("SOPClassUID", first["SOPClassUID"])], {"SOPClassUID": first["SOPClassUID"]})
    search(client, records, "instances of a series by InstanceNumber",
           f"/studies/{st}/series/{se}/instances", [("InstanceNumber", "1")],
           {"StudyInstanceUID": st, "SeriesInstanceUID": se, "InstanceNumber": "1"})
    search(client, records, "studies by AccessionNumber", "/studies",
           [("AccessionNumber", first["AccessionNumber"])],
           {"AccessionNumber": first["AccessionNumber"]})
    # Every name, in its own script, comes back intact (compare checks the values).
    for p in patients:
        search(client, records, f"studies by the name of {p['PatientID']} (exact, UTF-8)",
               "/studies", [("PatientName", p["PatientName"])],
               {"PatientName": p["PatientName"]}, require=["PatientName"])
    # Wildcards.
    for p in patients[:8]:
        name = p["PatientName"]
        prefix = name[:4] + "*"
        search(client, records, f"name prefix of {p['PatientID']} ({prefix!r})", "/studies",
               [("PatientName", prefix)], {"PatientName": prefix})
        one = "?" + name[1:]
        search(client, records, f"name with '?' of {p['PatientID']}", "/series",
               [("PatientName", one)], {"PatientName": one})
    infix = "*" + first["StudyDescription"][2:5].replace(",", "?") + "*"
    search(client, records, "StudyDescription infix wildcard", "/studies",
           [("StudyDescription", infix)], {"StudyDescription": infix})
    # Fuzzy person names: case and accents of Latin letters ignored.
    latin = next(p for p in patients if any(ord(c) > 127 for c in p["PatientName"].split("^")[0])
                 and p["PatientName"][0].isascii())
    folded = oracle.fold(latin["PatientName"].split("^")[0])[:4] + "*"
    search(client, records, f"fuzzymatching=true: {folded!r}", "/studies",
           [("PatientName", folded), ("fuzzymatching", "true")], {"PatientName": folded},
           fuzzy=True)
    status, _, _, body = client.get("/studies", [("PatientName", folded),
                                                 ("fuzzymatching", "false")])
    report(status == 200 and json.loads(body) == [],
           "fuzzymatching=false: the folded pattern matches nothing", f"{status} {body[:100]!r}")
    # Date and time ranges.
    search(client, records, f"StudyDate range {low}-{high}", "/studies",
           [("StudyDate", f"{low}-{high}")], {"StudyDate": f"{low}-{high}"})
    search(client, records, f"StudyDate open range {high}-", "/studies",
           [("StudyDate", f"{high}-")], {"StudyDate": f"{high}-"})
    search(client, records, f"StudyDate open range -{low}", "/series",
           [("StudyDate", f"-{low}")], {"StudyDate": f"-{low}"})
    search(client, records, f"StudyDate single {dates[0]}", "/studies",
           [("StudyDate", dates[0])], {"StudyDate": dates[0]})
    tmid = times[len(times) // 2][:4]
    search(client, records, f"StudyTime range -{tmid}", "/studies",
           [("StudyTime", f"-{tmid}")], {"StudyTime": f"-{tmid}"})
    # UID lists with both separators, and repeated parameters.
    pair = [st, other_st]
    search(client, records, "StudyInstanceUID list, comma", "/studies",
           [("StudyInstanceUID", ",".join(pair))], {"StudyInstanceUID": "\\".join(pair)})
    search(client, records, "StudyInstanceUID list, backslash", "/studies",
           [("StudyInstanceUID", "\\".join(pair))], {"StudyInstanceUID": "\\".join(pair)})
    search(client, records, "StudyInstanceUID repeated", "/series",
           [("StudyInstanceUID", st), ("StudyInstanceUID", other_st)],
           {"StudyInstanceUID": "\\".join(pair)})
    search(client, records, "SeriesInstanceUID list", "/instances",
           [("SeriesInstanceUID", f"{se},{other_se}")],
           {"SeriesInstanceUID": f"{se}\\{other_se}"})
    sops = [r["SOPInstanceUID"] for r in records[:3]]
    search(client, records, "SOPInstanceUID list", "/instances",
           [("SOPInstanceUID", "\\".join(sops))], {"SOPInstanceUID": "\\".join(sops)})
    # Several values of other attributes: any of them.
    pids = [patients[0]["PatientID"], patients[1]["PatientID"]]
    search(client, records, "PatientID=a,b", "/studies", [("PatientID", ",".join(pids))],
           {"PatientID": pids})
    search(client, records, "PatientID repeated", "/studies",
           [("PatientID", pids[0]), ("PatientID", pids[1])], {"PatientID": pids})
    # ModalitiesInStudy: any series of the study.
    search(client, records, "ModalitiesInStudy=CT", "/studies", [("ModalitiesInStudy", "CT")],
           {"ModalitiesInStudy": "CT"})
    search(client, records, "ModalitiesInStudy=CT,MR", "/studies",
           [("ModalitiesInStudy", "CT,MR")], {"ModalitiesInStudy": ["CT", "MR"]})
    search(client, records, "ModalitiesInStudy=M* (any series MR or MG)", "/studies",
           [("ModalitiesInStudy", "M*"), ("PatientName", "*")],
           {"ModalitiesInStudy": ["MR", "MG"]})
    # includefield: by tag, by keyword, repeated, comma-separated, all.
    search(client, records, "includefield=00081030,00080080 (OHIF style)", "/studies",
           [("includefield", "00081030,00080080")], {},
           require=["StudyDescription", "InstitutionName"])
    search(client, records, "includefield repeated, keywords", "/series",
           [("includefield", "BodyPartExamined"), ("includefield", "StudyDescription")], {},
           require=["BodyPartExamined", "StudyDescription"])
    all_series = [k for k, (lv, _) in oracle.STORED.items() if lv in ("PATIENT", "STUDY", "SERIES")]
    search(client, records, "includefield=all at series level", "/series",
           [("includefield", "all")], {}, require=all_series + ["SOPClassesInStudy"])
    all_instances = list(oracle.STORED)
    search(client, records, "includefield=all at instance level", f"/studies/{st}/instances",
           [("includefield", "all")], {"StudyInstanceUID": st}, require=all_instances)
    # Paging: limit/offset pages cover everything once, in a stable order.
    for path, level in (("/studies", "STUDY"), ("/series", "SERIES"), ("/instances", "IMAGE")):
        status, _, _, body = client.get(path, [("limit", "100000")])
        full = [("".join(text_of(o[TAGS[oracle.UNIQUE[level]]]))) for o in json.loads(body)]
        pages, offset, warnings_ok = [], 0, True
        size = max(1, len(full) // 4 + 1)
        while True:
            status, _, headers, body = client.get(path, [("limit", str(size)),
                                                         ("offset", str(offset))])
            page = [("".join(text_of(o[TAGS[oracle.UNIQUE[level]]]))) for o in json.loads(body)]
            more = any(k.lower() == "warning" and "more results" in v for k, v in headers)
            last = offset + len(page) >= len(full)
            if more == last:
                warnings_ok = False
            pages += page
            if not page or last:
                break
            offset += size
        report(pages == full and len(set(full)) == len(full) and len(full) == len(
            oracle.entities(records, level)) and warnings_ok,
            f"{path}: pages of {size} cover all {len(full)} once, in order, 'more results' "
            f"warning on every page but the last", f"{len(pages)} paged vs {len(full)}")
    status, _, _, body = client.get("/studies", [("offset", str(len(studies)))])
    report(status == 200 and json.loads(body) == [], "an offset past the end gives []",
           f"{status} {body[:80]!r}")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

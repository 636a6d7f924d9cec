#!/usr/bin/python3
"""make_seeds.py: writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Deterministic: the same checkout gives the same files. Sources: the project's own
generators (tests/tools/make_studies.py for realistic studies in several character sets,
tests/tools/dicom_bytes.py and raw_scu.py for hostile data sets and PDUs, stow_body.py for
Part 10 framing) and the DICOM test files Debian's python3-pydicom ships. Each file's
first bytes follow the input format its target documents (fuzz/*_fuzz.cc,
fuzz/fuzz_input.h). Kept small (a few hundred KB per target).

Usage: fuzz/make_seeds.py [--out fuzz/corpus]
"""
import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tests", "tools")
sys.path.insert(0, TOOLS)
import dicom_bytes as db  # noqa: E402
import raw_scu  # noqa: E402
import stow_body  # noqa: E402

PYDICOM_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
MAX_PYDICOM_FILE = 12 * 1024
UID = "1.2.826.0.1.3680043.2.1125.77"
IMPLICIT, EXPLICIT, BIG, DEFLATED = 0, 1, 2, 3


class Corpus:
    def __init__(self, root, target):
        self.dir = os.path.join(root, target)
        os.makedirs(self.dir, exist_ok=True)

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)


def pydicom_files():
    """(name, bytes) of the small Part 10 files of pydicom's test data, by name."""
    out = []
    if not os.path.isdir(PYDICOM_FILES):
        return out
    for name in sorted(os.listdir(PYDICOM_FILES)):
        path = os.path.join(PYDICOM_FILES, name)
        if not name.endswith(".dcm") or not os.path.isfile(path):
            continue
        if os.path.getsize(path) > MAX_PYDICOM_FILE:
            continue
        with open(path, "rb") as f:
            out.append(("pydicom-" + name[:-4], f.read()))
    return out


def generated_studies():
    """(name, bytes) of small studies from make_studies.py: one instance per character set,
    8- and 16-bit, single- and multi-frame."""
    out = []
    runs = [
        ("mixed16", ["--patients", "4", "--rows", "8", "--cols", "8"]),
        ("ascii8x2", ["--charset", "ascii", "--bits", "8", "--frames", "2", "--rows", "8",
                      "--cols", "8", "--modalities", "CT,MR,US"]),
        ("mr-frames", ["--frames", "3", "--rows", "4", "--cols", "4", "--modalities", "MR"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, args in runs:
            folder = os.path.join(tmp, label)
            subprocess.run([sys.executable, os.path.join(TOOLS, "make_studies.py"), "--out", folder]
                           + args, check=True, stdout=subprocess.DEVNULL)
            files = []
            for root, _, names in os.walk(folder):
                files += [os.path.join(root, n) for n in names if n.endswith(".dcm")]
            for i, path in enumerate(sorted(files)):
                with open(path, "rb") as f:
                    out.append(("gen-%s-%d" % (label, i), f.read()))
    return out


def hostile_datasets():
    """(name, selector, data set bytes) from dicom_bytes.py: bare data sets."""
    return [
        ("valid", EXPLICIT, db.valid_dataset(UID, extra="comment", pixel_bytes=16)),
        ("implicit", IMPLICIT, db.implicit_valid_dataset(UID)),
        ("truncated", EXPLICIT, db.truncated_dataset(UID)),
        ("huge-length", EXPLICIT, db.huge_length_dataset(UID)),
        ("nested-8", EXPLICIT, db.nested_dataset(UID, 8)),
        ("nested-20", EXPLICIT, db.nested_dataset(UID, 20)),
        ("bad-vr", EXPLICIT, db.bad_vr_dataset(UID)),
        ("deflated", DEFLATED, db.raw_deflate(db.valid_dataset(UID, pixel_bytes=64))),
        ("deflate-bomb", DEFLATED, db.deflate_bomb(UID, inflated=16 << 20)),
        ("charset-2022", EXPLICIT, db.assemble(
            [((0x0008, 0x0005), db.element(0x0008, 0x0005, "CS", "\\ISO 2022 IR 87"))] +
            db.identifying_elements(UID, patient_name="\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"))),
        ("charset-latin1", EXPLICIT, db.assemble(
            [((0x0008, 0x0005), db.element(0x0008, 0x0005, "CS", "ISO_IR 100"))] +
            db.identifying_elements(UID, patient_name=b"M\xfcller^J\xf6rg"))),
    ]


def part10(dataset, ts):
    return stow_body.part10(UID, dataset, ts=ts)


def dataset_inputs():
    """(name, bytes) inputs in the data set input format of fuzz_input.h."""
    out = []
    for name, data in pydicom_files() + generated_studies():
        out.append((name, data))
    for name, selector, data in hostile_datasets():
        out.append(("bare-" + name, bytes([selector]) + data))
    out.append(("p10-valid", part10(db.valid_dataset(UID, pixel_bytes=8), db.EXPLICIT_VR_LITTLE_ENDIAN)))
    out.append(("p10-nested", part10(db.nested_dataset(UID, 3), db.EXPLICIT_VR_LITTLE_ENDIAN)))
    return out


def pdu_streams():
    ct = db.CT_IMAGE_STORAGE
    rq = raw_scu.associate_rq("STORESCU", "TRESOR", ct, [db.EXPLICIT_VR_LITTLE_ENDIAN], 16384)
    echo = raw_scu.command_set([(0x0002, "1.2.840.10008.1.1"), (0x0100, 0x0030),
                                (0x0110, 1), (0x0800, 0x0101)])
    store = raw_scu.command_set([(0x0002, ct), (0x0100, 0x0001), (0x0110, 2), (0x0700, 0),
                                 (0x0800, 0x0000), (0x1000, UID)])
    data = db.valid_dataset(UID, pixel_bytes=8)
    release = raw_scu.pdu(0x05, bytes(4))
    abort = raw_scu.pdu(0x07, bytes(4))
    nested_command = db.nested_dataset(UID, 2)
    return [
        ("associate", rq),
        ("echo", rq + raw_scu.p_data(1, True, True, echo) + release),
        ("store", rq + raw_scu.p_data(1, True, True, store) +
         raw_scu.p_data(1, False, False, data[:40]) + raw_scu.p_data(1, False, True, data[40:]) +
         release),
        ("command-split", rq + raw_scu.p_data(1, True, False, echo[:10]) +
         raw_scu.p_data(1, True, True, echo[10:])),
        ("command-nested", rq + raw_scu.p_data(1, True, True, nested_command)),
        ("abort", rq + abort),
        ("oversized", raw_scu.pdu(0x04, bytes(20000))[:64]),
        ("unknown-type", raw_scu.pdu(0x09, b"abcd")),
    ]


def identifiers():
    def el(g, e, vr, v):
        return db.element(g, e, vr, v)

    study = [el(0x0008, 0x0052, "CS", "STUDY"), el(0x0010, 0x0010, "PN", "Doe*"),
             el(0x0008, 0x0020, "DA", "20200101-20201231"), el(0x0008, 0x0061, "CS", "CT\\MR"),
             el(0x0020, 0x000D, "UI", "")]
    series = [el(0x0008, 0x0052, "CS", "SERIES"), el(0x0008, 0x0060, "CS", "CT"),
              el(0x0020, 0x000D, "UI", "1.2.3\\1.2.4"), el(0x0020, 0x000E, "UI", "")]
    patient = [el(0x0008, 0x0005, "CS", "ISO 2022 IR 100"), el(0x0008, 0x0052, "CS", "PATIENT"),
               el(0x0010, 0x0010, "PN", b"M\xfcller"), el(0x0010, 0x0020, "LO", "PID?1")]
    image = [el(0x0008, 0x0018, "UI", ""), el(0x0008, 0x0052, "CS", "IMAGE"),
             el(0x0008, 0x0030, "TM", "0800-1200"),
             db.header(0x0040, 0x0275, "SQ", db.UNDEFINED_LENGTH) + db.sequence_end()]
    implicit = b"".join([db.implicit_element(0x0008, 0x0052, "STUDY"),
                         db.implicit_element(0x0010, 0x0010, "A^B")])
    return [
        ("study", 2, b"".join(study)),
        ("series", 2, b"".join(series)),
        ("patient-root", 3, b"".join(patient)),
        ("image", 2, b"".join(image)),
        ("implicit", 0, implicit),
        ("deflated", 6, db.raw_deflate(b"".join(study))),
    ]


QIDO_QUERIES = [
    (0, "PatientName=Doe*&StudyDate=20200101-20201231&limit=10&offset=5"),
    (0, "00100010=M%C3%BCller&fuzzymatching=true&includefield=all"),
    (0, "ModalitiesInStudy=CT,MR&includefield=00081030,StudyDescription&orderby=-StudyDate"),
    (1 | 0x40, "Modality=CT&SeriesNumber=1&includefield=SeriesDescription"),
    (2, "StudyInstanceUID=1.2.3,1.2.4&limit=0"),
    (3 | 0x40 | 0x80, "SOPClassUID=1.2.840.10008.5.1.4.1.1.2&InstanceNumber=1"),
    (4 | 0x40, "includefield=00280010&AccessionNumber=A%2A"),
    (5, "StudyTime=0800-&PatientID=&SOPInstanceUID=1.2.3%5C1.2.4"),
    (0, "PatientName=%ZZ&limit=-1"),
]

ACCEPT_HEADERS = [
    (0, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'),
    (2, 'multipart/related; type="application/dicom; transfer-syntax=*", */*;q=0.1'),
    (8, 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1, image/jls;q=0.5'),
    (3, 'multipart/related;type=image/jpeg;transfer-syntax=1.2.840.10008.1.2.4.50;q=0.9'),
    (4, 'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80, multipart/*'),
    (0, 'application/dicom+json, application/json;q=0.5, */*;q=0'),
    (1, 'multipart/related; type="application/dicom"; boundary="x\\"y"'),
    (9, 'image/*;q=0.8, application/dicom'),
]

BOUNDARY = "tresor-boundary-42"


def multipart_bodies():
    p10 = part10(db.valid_dataset(UID, pixel_bytes=8), db.EXPLICIT_VR_LITTLE_ENDIAN)
    crlf = ("--%s\r\nContent-Type: application/dicom\r\nContent-Length: %d\r\n\r\n"
            % (BOUNDARY, len(p10))).encode() + p10 + ("\r\n--%s--\r\n" % BOUNDARY).encode()
    lf = ("preamble\n--%s  \nContent-Type: application/dicom;\n transfer-syntax=1.2.840.10008.1.2.1\n\n"
          % BOUNDARY).encode() + b"abc" + ("\n--%s\n\nno headers\n--%s--\nepilogue" % (BOUNDARY, BOUNDARY)).encode()
    two = ("--%s\r\nContent-Type: application/dicom\r\n\r\nAAAA\r\n--%s\r\n"
           "Content-Type: application/dicom\r\n\r\nBB\r\n--%s--" % (BOUNDARY, BOUNDARY, BOUNDARY)).encode()
    unterminated = ("--%s\r\nContent-Type: application/dicom\r\n\r\nAAAA" % BOUNDARY).encode()
    bad_header = ("--%s\r\nno colon here\r\n\r\nA\r\n--%s--" % (BOUNDARY, BOUNDARY)).encode()
    out = []
    for name, body, seed in [("crlf", crlf, 7), ("lf", lf, 1), ("two", two, 200),
                             ("unterminated", unterminated, 3), ("bad-header", bad_header, 9)]:
        out.append((name, BOUNDARY.encode() + b"\n" + bytes([seed]) + body))
    return out


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_inputs():
    header = '{"alg":"HS256","typ":"JWT"}'
    payload = ('{"sub":"radiologist","role":"viewer","iat":1767225000,"exp":1767229200,'
               '"sid":"0123456789abcdef"}')
    import hmac
    signing = (b64url(header.encode()) + "." + b64url(payload.encode())).encode()
    mac = hmac.new(b"k" * 32, signing, hashlib.sha256).digest()
    token = signing.decode() + "." + b64url(mac)
    return [
        ("signed-valid", b"\x01" + (header + "\n" + payload).encode()),
        ("signed-expired", b"\x01" + (header + "\n" + payload.replace("1767229200", "1000")).encode()),
        ("signed-alg-none", b"\x01" + ('{"alg":"none"}\n' + payload).encode()),
        ("signed-types", b"\x01" + (header + '\n{"sub":1,"role":null,"exp":1e400,"sid":[]}').encode()),
        ("raw-valid", b"\x00" + token.encode()),
        ("raw-two-parts", b"\x00" + signing),
        ("raw-bad-b64", b"\x00" + b"a.b.c===="),
        ("api-token", b"\x00trs_0123456789abcdef0123456789abcdef"),
    ]


CONFIGS = [
    ("minimal", '[server]\nae_title = "TRESOR"\ndicom_port = 11112\n'),
    ("sections", '# comment\n[server]\nbind_address = "0.0.0.0"\ninsecure_plain_dicom = true\n'
                 '[limits]\nmax_pdu_bytes = 16384\nmax_object_bytes = 1073741824\n'
                 '[web]\ncors_origins = "https://a.example, https://b.example"\n'
                 '[dicomweb]\nqido_max_limit = 100\n[query]\nfuzzy_person_names = false\n'
                 '[storage]\nfsync = true\n[log]\nlevel = "debug"\n'),
    ("errors", '[server\nae_title = "unterminated\n[nosuch]\nx = 1\n'),
    ("overflow", '[limits]\nmax_associations = 99999999999999999999\nidle_seconds = -1\n'),
    ("escapes", '[tls]\ncertificate = "a\\"b\\\\c"  # trailing\nprivate_key = ""\n'),
]


def default_config_text():
    """The default configuration text, read from core/config.cc's raw string."""
    path = os.path.join(HERE, "..", "src", "core", "config.cc")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.index('std::string DefaultConfigText() {')
    start = text.index('R"(', start) + 3
    end = text.index(')"', start)
    return text[start:end]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = parser.parse_args()
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)

    datasets = dataset_inputs()
    for target in ("dataset_scanner", "dicom_json"):
        c = Corpus(args.out, target)
        for name, data in datasets:
            c.add(name, data)
    c = Corpus(args.out, "instance")
    for name, data in datasets:
        c.add(name, b"\x00" + data)
    texts = [(1, b"M\xfcller^J\xf6rg"), (12, "Ōtsuka^Thị=山田^太郎".encode()),
             (17, b"\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"), (18, b"Yamada^Tarou=\x1b$B;3ED\x1b(B"),
             (13, "王^小东".encode("gb18030")), (8, "Иванов^Иван".encode("iso8859_5")),
             (0, b"\xff\xfe"), (19, b"\x1b$B\x1b$B\x1b$B"), (20, b"\x1b$)C\xb1\xe8")]
    for i, (charset, text) in enumerate(texts):
        c.add("text-%d" % i, bytes([1 | (i & 2), charset]) + text)
    c = Corpus(args.out, "render")
    for name, data in datasets:
        if data[128:132] == b"DICM":
            c.add(name, bytes([len(name) % 64]) + data)
    c = Corpus(args.out, "pdu_guard")
    for i, (name, stream) in enumerate(pdu_streams()):
        c.add(name, bytes([3 if i % 2 == 0 else 2, 17 + i]) + stream)
    c = Corpus(args.out, "find_identifier")
    for name, selector, data in identifiers():
        c.add(name, bytes([selector]) + data)
    c = Corpus(args.out, "qido")
    for i, (selector, query) in enumerate(QIDO_QUERIES):
        c.add("query-%d" % i, bytes([selector]) + query.encode())
    c = Corpus(args.out, "negotiation")
    for i, (selector, header) in enumerate(ACCEPT_HEADERS):
        c.add("accept-%d" % i, bytes([selector]) + header.encode())
    c = Corpus(args.out, "multipart")
    for name, data in multipart_bodies():
        c.add(name, data)
    c = Corpus(args.out, "jwt")
    for name, data in jwt_inputs():
        c.add(name, data)
    c = Corpus(args.out, "config")
    c.add("default", default_config_text())
    for name, text in CONFIGS:
        c.add(name, text)
    for target in sorted(os.listdir(args.out)):
        folder = os.path.join(args.out, target)
        total = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print("%-16s %4d files %7d bytes" % (target, len(os.listdir(folder)), total))


if __name__ == "__main__":
    main()

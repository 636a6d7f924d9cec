#!/usr/bin/python3
"""Searches files for the patient data of a generated corpus (tests/tools/make_studies.py).

  phi_search.py CORPUS DIR...
      The needles are, for every patient of CORPUS (its manifest.tsv and files): the
      Patient ID, the birth date, the name (and each name component of 4+ characters) in
      UTF-8 and as encoded in the files (their Specific Character Set), upper-cased ASCII
      variants included. Prints one line per file under DIR... that contains a needle
      ("FILE: what") and a last line "N hit(s) in M file(s)". Exit 0 either way.
"""
import os
import sys

import pydicom


def needles(corpus):
    found = {}
    with open(os.path.join(corpus, "manifest.tsv")) as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            path, pid, name = cols[0], cols[1], cols[8]
            ds = pydicom.dcmread(os.path.join(corpus, path), stop_before_pixels=True)
            found[pid.encode()] = "patient ID"
            birth = str(ds.get("PatientBirthDate", "") or "")
            if birth:
                found[birth.encode()] = "birth date"
            raw = ds["PatientName"].value
            encoded = raw.original_string if hasattr(raw, "original_string") else None
            texts = {name}
            texts.update(part for part in name.replace("=", "^").split("^") if len(part) >= 4)
            for t in texts:
                found[t.encode("utf-8")] = "name (UTF-8)"
            if isinstance(encoded, bytes):
                found[encoded] = "name (as stored)"
                for part in encoded.replace(b"=", b"^").split(b"^"):
                    if len(part) >= 4:
                        found[part] = "name part (as stored)"
    return found


def main():
    corpus, dirs = sys.argv[1], sys.argv[2:]
    wanted = needles(corpus)
    hits = files = 0
    for top in dirs:
        for base, _, names in os.walk(top):
            for n in names:
                p = os.path.join(base, n)
                try:
                    data = open(p, "rb").read()
                except OSError:
                    continue
                here = sorted({what for needle, what in wanted.items() if needle in data})
                if here:
                    files += 1
                    hits += len(here)
                    print(p + ": " + ", ".join(here))
    print("%d hit(s) in %d file(s)" % (hits, files))


if __name__ == "__main__":
    main()

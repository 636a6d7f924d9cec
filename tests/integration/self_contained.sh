#!/usr/bin/env bash
# The repository stands alone: no tracked file refers to a path outside it, and its own
# test-data generator (tests/tools/make_studies.py) is deterministic and writes only
# files that `tresor import` accepts, with `tresor stats` counts equal to its manifest.
#
# The scanner proves it can fail: it must flag references planted in a scratch tree
# (which, not being a git checkout, also exercises the `find` fallback).
source "$(dirname "$0")/../lib.sh"
GEN=$ROOT/tests/tools/make_studies.py

echo "self-contained: no outside paths; the generator is deterministic and importable"

# Outside references (extended regular expressions). Written so that they do not match
# their own text: a bracket or a backslash splits every literal.
OUTSIDE=(
  '\.\./+shared'                        # a sibling directory of the checkout
  'shared/+tool[s]'                     # a tools directory shared between checkouts
  '(^|[^[:alnum:]_.~-])/wor[k]/'        # absolute paths of this machine
  '(^|[^[:alnum:]_.~-])/hom[e]/'
  '\$\{?(ROOT|TOP|REPO)\}?/+\.\.(/|$|[^./])'   # the parent of the root, via its variable
  '\$\{?HERE\}?/+\.\./+\.\.'            # two levels above bench/ (its HERE)
)

# list_files DIR: the files of DIR to scan, relative to DIR: the tracked and the untracked
# but not ignored files of a git checkout, else every file but build trees.
list_files() {
  if git -C "$1" rev-parse --show-toplevel >/dev/null 2>&1 &&
     [ "$(git -C "$1" rev-parse --show-toplevel)" = "$(cd "$1" && pwd -P)" ]; then
    git -C "$1" ls-files --cached --others --exclude-standard
  else
    (cd "$1" && find . -path ./.git -prune -o -path ./build -prune -o -path './build-*' -prune \
      -o -type f -print | sed 's|^\./||')
  fi
}
# scan DIR: prints "path:line: text" of every outside reference in DIR's text files.
scan() {
  local dir=$1 f pattern
  list_files "$dir" | sort -u | while IFS= read -r f; do
    [ -f "$dir/$f" ] || continue
    for pattern in "${OUTSIDE[@]}"; do
      grep -nIE -- "$pattern" "$dir/$f" 2>/dev/null | sed "s|^|$f:|"
    done
  done | sort -u
}

echo "-- the scanner can fail"
PLANT=$WORK/plant
mkdir -p "$PLANT/sub"
printf '%s\n' 'source "$(dirname "$0")/../lib.sh"' 'ROOT=$(cd "$HERE/.." && pwd)' \
  'see docs/../README.md and https://example.org/homepage/' >"$PLANT/clean.sh"
d=..; s=shared; w=work; h=home
printf 'GEN=$ROOT/%s/%s/tools/x.py\n' "$d" "$s" >"$PLANT/sibling.sh"
printf 'python3 %s/tools/gen.py\n' "$s" >"$PLANT/sub/tools.sh"
printf 'cd /%s/main && make\n' "$w" >"$PLANT/sub/abs_work.md"
printf 'path = "/%s/user/data"\n' "$h" >"$PLANT/abs_home.conf"
printf 'cp "${ROOT}/%s/corpus" .\n' "$d" >"$PLANT/escape.sh"
printf 'x=$HERE/%s/%s/y\n' "$d" "$d" >"$PLANT/bench_escape.sh"
scan "$PLANT" >"$WORK/plant.hits"
sed 's/^/     /' "$WORK/plant.hits"
for f in sibling.sh sub/tools.sh sub/abs_work.md abs_home.conf escape.sh bench_escape.sh; do
  check "planted reference in $f is flagged" grep -q "^$f:" "$WORK/plant.hits"
done
check_fails "the clean file (../lib.sh, \$HERE/.., docs/../, /homepage/) is not flagged" \
  grep -q '^clean.sh:' "$WORK/plant.hits"
expect_eq "the scratch tree (no git) is listed with find: 7 files" 7 "$(list_files "$PLANT" | wc -l)"

echo "-- the repository"
if git -C "$ROOT" rev-parse --show-toplevel >/dev/null 2>&1; then
  echo "  scanning $(list_files "$ROOT" | wc -l) files (git ls-files)"
else
  echo "  scanning $(list_files "$ROOT" | wc -l) files (not a git checkout: find)"
fi
scan "$ROOT" >"$WORK/repo.hits"
check "no file refers to a path outside the repository" test ! -s "$WORK/repo.hits"
sed 's/^/       /' "$WORK/repo.hits" | head -20
check "the test-data generator is part of the repository" test -f "$GEN"

echo "-- the generator"
gen() { local out=$1; shift; "$PY" "$GEN" --out "$out" "$@" >"$WORK/gen.log" 2>&1 || cat "$WORK/gen.log"; }
tree_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); }
check "--help explains the flags and the manifest" bash -c \
  "'$PY' '$GEN' --help | grep -q -- '--charset' && '$PY' '$GEN' --help | grep -q 'manifest.tsv'"
check_fails "a non-empty --out is refused" "$PY" "$GEN" --out "$ROOT/tests" --patients 1

# A small mixed corpus: every modality and character set, 16- and 8-bit, single- and
# multi-frame (every multi-frame SOP class), forced character sets, two sizes.
M=$WORK/mixed
gen "$M/a16" --patients 4 --studies 3 --series 2 --instances 2 --seed 11
gen "$M/b8" --patients 4 --studies 2 --series 1 --instances 2 --bits 8 --seed 12
gen "$M/c16mf" --patients 6 --studies 1 --series 1 --instances 2 --frames 4 --seed 13 --rows 48 --cols 40
gen "$M/d8mf" --patients 6 --studies 1 --series 1 --instances 1 --frames 3 --bits 8 --seed 14
gen "$M/e" --patients 2 --studies 1 --series 1 --instances 2 --charset ascii --seed 15
gen "$M/f" --patients 2 --studies 1 --series 1 --instances 2 --charset 'ISO_IR 126' --seed 16
gen "$M/g" --patients 12 --studies 1 --series 1 --instances 1 --seed 17 --rows 16 --cols 16
manifests=("$M"/*/manifest.tsv)
expect_eq "seven corpora written" 7 "${#manifests[@]}"
rows=$(for m in "${manifests[@]}"; do tail -n +2 "$m"; done | wc -l)
files=$(find "$M" -name '*.dcm' | wc -l)
expect_eq "one manifest line per file written ($files files)" "$files" "$rows"
check "the manifest starts with the columns its consumers read" bash -c \
  "head -1 '$M/a16/manifest.tsv' | grep -q \$'^path\tpatient_id\tstudy_uid\tseries_uid\tsop_uid\tmodality\t'"

gen "$WORK/again" --patients 4 --studies 3 --series 2 --instances 2 --seed 11 --jobs 3
expect_eq "same arguments (--jobs 1 and --jobs 3): identical trees" "$(tree_hash "$M/a16")" "$(tree_hash "$WORK/again")"
gen "$WORK/again-mf" --patients 6 --studies 1 --series 1 --instances 2 --frames 4 --seed 13 --rows 48 --cols 40
expect_eq "same arguments, multi-frame: identical trees" "$(tree_hash "$M/c16mf")" "$(tree_hash "$WORK/again-mf")"
gen "$WORK/other-seed" --patients 4 --studies 3 --series 2 --instances 2 --seed 99
check_fails "another seed gives other files" test "$(tree_hash "$M/a16")" = "$(tree_hash "$WORK/other-seed")"
gen "$WORK/prefix" --patients 2 --studies 3 --series 2 --instances 2 --seed 11
check "the first 2 patients of the 4-patient corpus are the 2-patient corpus" \
  diff -r "$WORK/prefix/p000000" "$M/a16/p000000"
check "  (second patient too)" diff -r "$WORK/prefix/p000001" "$M/a16/p000001"
check "  (and its manifest is the first lines of the bigger one)" \
  cmp "$WORK/prefix/manifest.tsv" <(head -n "$(wc -l <"$WORK/prefix/manifest.tsv")" "$M/a16/manifest.tsv")

# Every file against its manifest line, read back with pydicom: character set and the
# raw bytes of the name in it, name, modality, SOP class, bits, frames, pixel data size
# and content (neither constant nor identical between instances).
check "every file matches its manifest line (charset bytes, pixels, frames)" "$PY" - "${manifests[@]}" <<'EOF'
import hashlib, os, sys
import pydicom
CODEC = {"ISO_IR 100": "latin_1", "ISO_IR 126": "iso8859_7", "ISO_IR 144": "iso8859_5",
         "ISO_IR 192": "utf-8", "": "ascii"}
bad, seen_px = 0, set()
covered = {"charset": set(), "modality": set(), "sop_class": set(), "bits": set(), "frames": set()}
for manifest in sys.argv[1:]:
    top = os.path.dirname(manifest)
    with open(manifest, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            m = dict(zip(header, line.rstrip("\n").split("\t")))
            ds = pydicom.dcmread(os.path.join(top, m["path"]))
            raw = pydicom.dcmread(os.path.join(top, m["path"]), stop_before_pixels=True)
            raw_name = raw.get_item("PatientName").value.rstrip(b" ")  # even-length padding
            def want(cond, what):
                global bad
                if not cond:
                    bad += 1
                    print(m["path"], what)
            want(ds.get("SpecificCharacterSet", "") == m["charset"], f"charset {ds.get('SpecificCharacterSet')!r}")
            want(raw_name == m["patient_name"].encode(CODEC[m["charset"]]), f"raw name bytes {raw_name!r}")
            want(str(ds.PatientName) == m["patient_name"], f"name {ds.PatientName!r}")
            for key, kw in (("patient_id", "PatientID"), ("study_uid", "StudyInstanceUID"),
                            ("series_uid", "SeriesInstanceUID"), ("sop_uid", "SOPInstanceUID"),
                            ("modality", "Modality"), ("sop_class", "SOPClassUID"),
                            ("study_date", "StudyDate"), ("accession", "AccessionNumber")):
                want(str(ds.get(kw, "")) == m[key], f"{kw} {ds.get(kw)!r} != {m[key]!r}")
            want(ds.file_meta.MediaStorageSOPInstanceUID == m["sop_uid"], "meta SOP instance")
            frames = int(ds.get("NumberOfFrames", 1))
            want(frames == int(m["frames"]), f"frames {frames}")
            want(("NumberOfFrames" in ds) == (frames > 1), "NumberOfFrames only when multi-frame")
            want(ds.BitsAllocated == int(m["bits"]), f"bits {ds.BitsAllocated}")
            size = ds.Rows * ds.Columns * frames * ds.BitsAllocated // 8
            want(len(ds.PixelData) == size, f"pixel data {len(ds.PixelData)} bytes, want {size}")
            want(len(set(ds.PixelData)) > 8, "pixel data nearly constant")
            digest = hashlib.sha256(ds.PixelData).digest()
            want(digest not in seen_px, "pixel data identical to another instance's")
            seen_px.add(digest)
            for k in covered:
                covered[k].add(m[k])
need = {"charset": {"ISO_IR 100", "ISO_IR 126", "ISO_IR 144", "ISO_IR 192", ""},
        "modality": {"CT", "MR", "CR", "MG", "US", "XA"}, "bits": {"8", "16"},
        "frames": {"1", "3", "4"}}
for k, values in need.items():
    if not values <= covered[k]:
        bad += 1
        print("corpus lacks", k, sorted(values - covered[k]))
print(len(seen_px), "instances,", len(covered["sop_class"]), "SOP classes:", sorted(covered["sop_class"]))
sys.exit(1 if bad else 0)
EOF
sed -n '$p' "$WORK/check.out" | sed 's/^/       /'

init_data
find "$M" -name '*.dcm' | sort >"$WORK/mixed.files"
tr '\n' '\0' <"$WORK/mixed.files" | xargs -0 "$TRESOR" import --data "$DATA" >"$WORK/import.out" 2>"$WORK/import.err"
expect_eq "tresor import accepts every generated file (exit 0)" 0 "$?"
check "  summary: all $files stored, none duplicate or rejected" \
  grep -q "import: $files files: $files stored, 0 duplicate, 0 rejected" "$WORK/import.out"
sed -n '/rejected /p' "$WORK/import.out" | head -5 | sed 's/^/       /'
all_rows() { for m in "${manifests[@]}"; do tail -n +2 "$m"; done; }
distinct() { all_rows | cut -f"$1" | sort -u | wc -l; }
stats=$("$TRESOR" stats --data "$DATA")
expect_eq "tresor stats: patients as in the manifests" "$(distinct 2)" "$(sed -n 's/^patients: *//p' <<<"$stats")"
expect_eq "tresor stats: studies as in the manifests" "$(distinct 3)" "$(sed -n 's/^studies: *//p' <<<"$stats")"
expect_eq "tresor stats: series as in the manifests" "$(distinct 4)" "$(sed -n 's/^series: *//p' <<<"$stats")"
expect_eq "tresor stats: instances as in the manifests" "$(distinct 5)" "$(sed -n 's/^instances: *//p' <<<"$stats")"
all_rows | cut -f9 | sort -u >"$WORK/want.names"
"$TRESOR" index sql --data "$DATA" "SELECT DISTINCT name FROM patients" | sort -u >"$WORK/got.names"
check "the index holds every patient name decoded to UTF-8 from its character set" \
  diff "$WORK/want.names" "$WORK/got.names"
finish

#!/usr/bin/env bash
# C-FIND SCP against an oracle: a generated corpus (tests/tools/make_studies.py, its
# patients in Latin-1 ISO_IR 100 with umlauts, UTF-8 ISO_IR 192 mixing scripts, Greek
# ISO_IR 126 and Cyrillic ISO_IR 144) plus a few fixed patients (query_oracle.py extras)
# is stored, then findscu queries in both information models at every level must return
# exactly the entities tests/tools/query_oracle.py computes from the files, with the
# right values (names and descriptions in UTF-8, computed counts, ModalitiesInStudy).
# Every corpus name is queried in UTF-8 and in its own character set. Also: result
# limit, refused level, missing find grant, C-CANCEL and fuzzy person names.
source "$(dirname "$0")/../lib.sh"
ORACLE=$ROOT/tests/tools/query_oracle.py

echo "query: C-FIND matching, character sets, limits, cancel"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 12 --studies 2 \
  --series 2 --instances 3 >/dev/null
"$PY" "$ORACLE" extras "$WORK/extras"
# Names and patterns picked from the manifest (DE_NAME, GR_PREFIX, ...; see
# query_oracle.py names), and $WORK/names.tsv: charset, name, studies, folded name.
eval "$("$PY" "$ORACLE" names "$CORPUS/manifest.tsv" "$WORK/names.tsv")"
declare -A ICONV=([ISO_IR 100]=ISO-8859-1 [ISO_IR 126]=ISO-8859-7 [ISO_IR 144]=ISO-8859-5
  [ISO_IR 192]=UTF-8)
IDX=$WORK/index.json
"$PY" "$ORACLE" index "$IDX" "$CORPUS" "$WORK/extras"
expect() { "$PY" "$ORACLE" expect "$IDX" "$@"; }
value() { "$PY" "$ORACLE" value "$IDX" "$@"; }

init_data
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
start_server
add_peer q QUERYSCU echo,store,find
add_peer s NOFIND echo,store
check "storing the corpus and the extra character-set patients succeeds" \
  storescu -aet QUERYSCU -aec TRESOR +sd +r +sp '*.dcm' 127.0.0.1 "$PORT" "$CORPUS" "$WORK/extras"
expect_eq "index holds 149 instances" "instances: 149" "$("$TRESOR" stats --data "$DATA" | grep instances)"

# fq NAME MODEL(P|S) LEVEL KEY=VALUE...: findscu into $WORK/rsp/NAME/rsp*.dcm, log in
# $WORK/rsp/NAME.log. The query is UTF-8 unless a SpecificCharacterSet key is given; the
# level's unique key is always requested. Extra findscu options go in FQ_OPTS.
fq() {
  local out=$WORK/rsp/$1 model=$2 level=$3; shift 3
  rm -rf "$out"; mkdir -p "$out"
  local args=(-k "QueryRetrieveLevel=$level") unique
  case $level in
    PATIENT) unique=PatientID ;; STUDY) unique=StudyInstanceUID ;;
    SERIES) unique=SeriesInstanceUID ;; IMAGE) unique=SOPInstanceUID ;;
  esac
  [[ " $* " == *" $unique="* ]] || args+=(-k "$unique")
  [[ " $* " == *" SpecificCharacterSet="* ]] || args+=(-k "SpecificCharacterSet=ISO_IR 192")
  for kv in "$@"; do args+=(-k "$kv"); done
  findscu -d ${FQ_OPTS:-} -aet "${FQ_AET:-QUERYSCU}" -aec TRESOR "-$model" -X -od "$out" \
    "${args[@]}" 127.0.0.1 "$PORT" >"$out.log" 2>&1
}
# The last DIMSE status findscu received, e.g. 0x0000.
final_status() { sed -n 's/.*DIMSE Status *: \(0x[0-9a-f]*\).*/\1/p' "$WORK/rsp/$1.log" | tail -1; }
responses() { find "$WORK/rsp/$1" -name 'rsp*.dcm' | wc -l; }

# q "description" MODEL LEVEL KEY=VALUE...: the query succeeds and its responses are
# exactly the oracle's entities; returned attributes (ask with KEY=) carry the files' values.
# A query that matches nothing must say "nothing" in its description.
N=0
q() {
  local what=$1 model=$2 level=$3; shift 3
  N=$((N + 1))
  fq "q$N" "$model" "$level" "$@"
  if [ "$(final_status "q$N")" != 0x0000 ]; then
    fail "$what: final status $(final_status "q$N"), want 0x0000"; return
  fi
  if [ "$(responses "q$N")" -eq 0 ] && [[ $what != *nothing* ]]; then
    fail "$what: no matches (a query that tests nothing)"; return
  fi
  check "$what" "$PY" "$ORACLE" compare "$IDX" "$level" "$WORK/rsp/q$N" ${FUZZY:-} "$@"
}

PATIENT_KEYS=(PatientName= PatientID= PatientBirthDate= PatientSex=
  NumberOfPatientRelatedStudies= NumberOfPatientRelatedSeries= NumberOfPatientRelatedInstances=)
STUDY_KEYS=(StudyDate= StudyTime= AccessionNumber= StudyID= StudyDescription=
  ReferringPhysicianName= InstitutionName= ModalitiesInStudy= SOPClassesInStudy=
  NumberOfStudyRelatedSeries= NumberOfStudyRelatedInstances=)
SERIES_KEYS=(Modality= SeriesNumber= SeriesDescription= BodyPartExamined=
  NumberOfSeriesRelatedInstances=)
IMAGE_KEYS=(SOPClassUID= InstanceNumber=)

P2=PID01000002
STUDY2=$(expect STUDY PatientID=$P2 | sed -n 1p)
SERIES2=$(expect SERIES StudyInstanceUID="$STUDY2" | sed -n 1p)

echo "-- patient root"
q "P PATIENT: every patient, all patient attributes and counts" P PATIENT "${PATIENT_KEYS[@]}"
expect_eq "  16 patients" 16 "$(responses q$N)"
q "P PATIENT: single value PatientID" P PATIENT PatientID=$P2 "${PATIENT_KEYS[@]:0:1}"
q "P PATIENT: PatientBirthDate range -19500101" P PATIENT PatientBirthDate=-19500101 PatientName=
q "P STUDY: studies of one patient with study attributes and counts" P STUDY \
  PatientID=$P2 "${STUDY_KEYS[@]}"
q "P SERIES: series of one study" P SERIES PatientID=$P2 StudyInstanceUID="$STUDY2" \
  "${SERIES_KEYS[@]}"
q "P IMAGE: instances of one series" P IMAGE PatientID=$P2 StudyInstanceUID="$STUDY2" \
  SeriesInstanceUID="$SERIES2" "${IMAGE_KEYS[@]}"

echo "-- study root"
q "S STUDY: every study, patient and study attributes, counts" S STUDY \
  "${PATIENT_KEYS[@]}" "${STUDY_KEYS[@]}"
expect_eq "  28 studies" 28 "$(responses q$N)"
q "S STUDY: single value PatientID" S STUDY PatientID=PID01000005 PatientName=
q "S STUDY: PatientName exact with umlaut $DE_NAME (UTF-8)" S STUDY "PatientName=$DE_NAME" PatientID=
expect_eq "  $DE_NAME has $DE_STUDIES studies" "$DE_STUDIES" "$(responses q$N)"
# The same name sent as Latin-1 bytes must be converted before matching.
fq latin1 S STUDY "SpecificCharacterSet=ISO_IR 100" \
  "PatientName=$(printf '%s' "$DE_NAME" | iconv -f UTF-8 -t ISO-8859-1)" PatientID=
check "S STUDY: PatientName exact with umlaut (ISO_IR 100 query)" \
  "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/latin1" "PatientName=$DE_NAME" PatientID=
expect_eq "  Latin-1 query matches $DE_STUDIES studies" "$DE_STUDIES" "$(responses latin1)"
fq latin1b S STUDY "SpecificCharacterSet=ISO_IR 100" "PatientName=$(printf '\xc5ngstr\xf6m^Fran\xe7oise')"
check "S STUDY: Latin-1 stored name found by a Latin-1 query" \
  "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/latin1b" "PatientName=Ångström^Françoise"
expect_eq "  one study" 1 "$(responses latin1b)"
q "S STUDY: prefix wildcard $DE_PREFIX" S STUDY "PatientName=$DE_PREFIX"
q "S STUDY: prefix wildcard ending in an umlaut $DE_PREFIX_NONASCII" S STUDY "PatientName=$DE_PREFIX_NONASCII"
q "S STUDY: prefix wildcard $GR_PREFIX (Greek)" S STUDY "PatientName=$GR_PREFIX"
q "S STUDY: infix wildcard *er*" S STUDY "PatientName=*er*"
q "S STUDY: ? matches one character, also a multi-byte one ($UTF_ONE)" S STUDY "PatientName=$UTF_ONE"
q "S STUDY: ? at both ends, Cyrillic ($CY_WILD)" S STUDY "PatientName=$CY_WILD"
expect_eq "  $CY_NAME has $CY_STUDIES studies" "$CY_STUDIES" "$(responses q$N)"
q "S STUDY: wildcards are case-sensitive ($DE_LOWER_PREFIX finds nothing)" S STUDY "PatientName=$DE_LOWER_PREFIX"
expect_eq "  no match" 0 "$(responses q$N)"
q "S STUDY: wildcard on AccessionNumber" S STUDY "AccessionNumber=ACC0100000?01"
expect_eq "  the second study of patients 0-9" 10 "$(responses q$N)"
REF=$(value ReferringPhysicianName PatientName="$DE_NAME" | sed -n 1p)
q "S STUDY: ReferringPhysicianName wildcard ${REF%%^*}^*" S STUDY "ReferringPhysicianName=${REF%%^*}^*"
q "S STUDY: StudyDate single value" S STUDY "StudyDate=$(value StudyDate StudyInstanceUID="$STUDY2")"
q "S STUDY: StudyDate closed range 20160101-20181231" S STUDY StudyDate=20160101-20181231
q "S STUDY: StudyDate open low 20230101-" S STUDY StudyDate=20230101-
q "S STUDY: StudyDate open high -20151231" S STUDY StudyDate=-20151231
q "S STUDY: StudyTime range 120000-235959" S STUDY StudyTime=120000-235959
q "S STUDY: StudyTime range of hours 00-03" S STUDY StudyTime=00-03
q "S STUDY: StudyDate range and ModalitiesInStudy together" S STUDY StudyDate=20180101- ModalitiesInStudy=MR
UIDS=$(expect STUDY | sed -n '2p;5p;9p' | paste -sd '\\')
q "S STUDY: StudyInstanceUID list of three" S STUDY "StudyInstanceUID=$UIDS"
expect_eq "  three studies" 3 "$(responses q$N)"
q "S STUDY: ModalitiesInStudy=CT" S STUDY ModalitiesInStudy=CT StudyDate=
q "S STUDY: series-level key (Modality) is ignored at STUDY level" S STUDY PatientID=$P2 Modality=XX
expect_eq "  both studies of the patient" 2 "$(responses q$N)"
q "S SERIES: series of one study with counts" S SERIES StudyInstanceUID="$STUDY2" \
  "${SERIES_KEYS[@]}" "${STUDY_KEYS[@]}"
SUIDS=$(expect SERIES | sed -n '1p;7p;30p' | paste -sd '\\')
q "S SERIES: SeriesInstanceUID list of three" S SERIES "SeriesInstanceUID=$SUIDS" Modality=
expect_eq "  three series" 3 "$(responses q$N)"
q "S SERIES: Modality=MR" S SERIES Modality=MR SeriesNumber=
q "S SERIES: upper-level keys match too (PatientName, StudyDate range)" S SERIES \
  "PatientName=*u*" StudyDate=20180101- Modality=
q "S IMAGE: PatientID and Modality at IMAGE level" S IMAGE PatientID=PID01000001 Modality=CR \
  "${IMAGE_KEYS[@]}"
q "S IMAGE: instances of one series" S IMAGE StudyInstanceUID="$STUDY2" \
  SeriesInstanceUID="$SERIES2" "${IMAGE_KEYS[@]}" NumberOfSeriesRelatedInstances=
expect_eq "  three instances" 3 "$(responses q$N)"

echo "-- character sets: every corpus patient, in UTF-8 and in its own set"
while IFS=$'\t' read -r -u 3 cs name studies _; do
  q "$cs: $name matches and comes back as UTF-8" S STUDY "PatientName=$name" PatientID= \
    StudyDescription= InstitutionName= ReferringPhysicianName= PatientSex=
  expect_eq "  $studies studies" "$studies" "$(responses q$N)"
  [ "$cs" = "ISO_IR 192" ] && continue
  fq "own$N" S STUDY "SpecificCharacterSet=$cs" \
    "PatientName=$(printf '%s' "$name" | iconv -f UTF-8 -t "${ICONV[$cs]}")" PatientID= StudyDescription=
  check "  ... and sent as $cs bytes" "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/own$N" \
    "PatientName=$name" PatientID= StudyDescription=
  expect_eq "  ... $studies studies" "$studies" "$(responses "own$N")"
done 3<"$WORK/names.tsv"
check "the corpus has a patient with component groups" test -n "$JP_NAME"
q "UTF-8 name with ideographic and phonetic component groups" P PATIENT "PatientName=$JP_NAME" \
  NumberOfPatientRelatedStudies=
q "Greek prefix wildcard $GR_PREFIX at PATIENT level" P PATIENT "PatientName=$GR_PREFIX" \
  NumberOfPatientRelatedInstances=
echo "-- character sets: fixed patients"
q "Greek name matches and comes back as UTF-8" S STUDY "PatientName=Διονυσιος^Γιαννης" \
  StudyDescription= NumberOfStudyRelatedInstances=
expect_eq "  one study" 1 "$(responses q$N)"
q "Greek prefix wildcard" P PATIENT "PatientName=Διον*" NumberOfPatientRelatedInstances=
q "Cyrillic name matches and comes back as UTF-8" S STUDY "PatientName=Люксембург^Иван" \
  StudyDescription=
expect_eq "  one study" 1 "$(responses q$N)"
fq cyr S STUDY "SpecificCharacterSet=ISO_IR 144" \
  "PatientName=$(printf 'Люксембург^Иван' | iconv -f UTF-8 -t ISO-8859-5)"
check "Cyrillic name sent as ISO_IR 144 matches" \
  "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/cyr" "PatientName=Люксембург^Иван"
expect_eq "  one study" 1 "$(responses cyr)"

echo "-- refusals"
fq patlevel S PATIENT PatientID=
st=$(final_status patlevel)
check "PATIENT level in study root is refused ($st)" bash -c "[[ '$st' =~ ^0x(a9|c) ]]"
expect_eq "  with no matches" 0 "$(responses patlevel)"
FQ_AET=NOFIND fq nofind S STUDY
expect_eq "peer without the find grant gets 0x0124" 0x0124 "$(final_status nofind)"
expect_eq "  and no matches" 0 "$(responses nofind)"

echo "-- cancel"
FQ_OPTS="--cancel 2" fq cancel S IMAGE
st=$(final_status cancel)
check "findscu --cancel 2: final status cancel or success ($st, $(responses cancel) responses)" \
  bash -c "[[ '$st' =~ ^0x(fe00|0000)$ ]]"
check "server still up after findscu's cancel" server_alive
# findscu cancels only after reading 2 responses; by then Tresor may have sent all 148
# (they are tiny, and on a busy machine findscu may not even run meanwhile). A C-CANCEL
# sent in the same TCP write as the request must stop matching before the first response.
check "C-CANCEL together with the request: no pending responses, status 0xFE00" \
  "$PY" - "$ROOT/tests/tools" "$PORT" <<'EOF'
import struct, sys
sys.path.insert(0, sys.argv[1])
import raw_scu
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
a = raw_scu.Association("127.0.0.1", int(sys.argv[2]), 10)
a.associate("QUERYSCU", "TRESOR", STUDY_ROOT_FIND, ["1.2.840.10008.1.2"], 16384)
def element(group, elem, value):  # implicit VR little endian
    value += b" " * (len(value) % 2)
    return struct.pack("<HHI", group, elem, len(value)) + value
identifier = element(0x0008, 0x0018, b"") + element(0x0008, 0x0052, b"IMAGE")
pdus = []
a.send = pdus.append  # collect both messages, then send them in one write
a.send_message(raw_scu.command_set([(0x0002, STUDY_ROOT_FIND), (0x0100, 0x0020),
                                    (0x0110, 7), (0x0700, 0), (0x0800, 0x0000)]), identifier)
a.send_message(raw_scu.command_set([(0x0100, 0x0FFF), (0x0120, 7), (0x0800, 0x0101)]))
del a.send
a.send(b"".join(pdus))
pending = 0
while True:
    status = struct.unpack("<H", a.read_command()[0x0900][:2])[0]
    if status not in (0xFF00, 0xFF01):
        break
    pending += 1
a.release()
print(f"pending {pending}, final 0x{status:04x}")
sys.exit(0 if (pending, status) == (0, 0xFE00) else 1)
EOF
check "server answers after the cancels" echoscu -aet QUERYSCU -aec TRESOR 127.0.0.1 "$PORT"
stop_server

echo "-- result limit"
sed -i 's/^max_find_results = .*/max_find_results = 5/' "$DATA/tresor.conf"
start_server
fq limit S IMAGE
expect_eq "limit 5: exactly 5 responses" 5 "$(responses limit)"
expect_eq "limit 5: final status 0xA700" 0xa700 "$(final_status limit)"
check "limit 5: Error Comment says the limit was reached" grep -q "result limit of 5 reached" "$WORK/rsp/limit.log"
q "limit 5: a query with 2 matches is unaffected" S STUDY PatientID=$P2
stop_server

echo "-- fuzzy person names"
sed -i 's/^max_find_results = .*/max_find_results = 1000/; s/^fuzzy_person_names = .*/fuzzy_person_names = true/' \
  "$DATA/tresor.conf"
start_server
FUZZY=--fuzzy
q "fuzzy: $DE_FOLD_PREFIX finds $DE_NAME" S STUDY "PatientName=$DE_FOLD_PREFIX"
q "fuzzy: $DE_FOLD (exact, lower case, no accents)" S STUDY "PatientName=$DE_FOLD"
expect_eq "  $DE_STUDIES studies" "$DE_STUDIES" "$(responses q$N)"
q "fuzzy: $UTF_FOLD_INFIX finds $UTF_NAME" P PATIENT "PatientName=$UTF_FOLD_INFIX"
q "fuzzy: $DE_UPPER_PREFIX (upper case with accents)" S STUDY "PatientName=$DE_UPPER_PREFIX"
while IFS=$'\t' read -r -u 3 cs name _ folded; do
  q "fuzzy: $folded finds $name ($cs)" S STUDY "PatientName=$folded" PatientID=
done 3<"$WORK/names.tsv"
q "fuzzy: yilmaz* finds Yılmaz (dotless i)" S STUDY "PatientName=yilmaz*"
q "fuzzy: *AYSE" S STUDY "PatientName=*AYSE"
q "fuzzy: Greek keeps its case ($GR_LOWER_PREFIX finds nothing)" S STUDY "PatientName=$GR_LOWER_PREFIX"
expect_eq "  no match" 0 "$(responses q$N)"
q "fuzzy: Greek exact name still matches" S STUDY "PatientName=Διονυσιος^Γιαννης"
q "fuzzy: angstrom^francoise finds the Latin-1 patient" S STUDY "PatientName=angstrom^francoise"
REF_FOLD=$("$PY" "$ORACLE" fold "${REF%%^*}")
q "fuzzy: referring physician $REF_FOLD^*" S STUDY "ReferringPhysicianName=$REF_FOLD^*"
INST=$(value InstitutionName PatientName="$DE_NAME" | sed -n 1p)
INST_LOWER=$("$PY" -c 'import sys; print(sys.argv[1].split()[0].lower() + "*")' "$INST")
q "fuzzy: non-PN attributes stay case-sensitive ($INST_LOWER finds nothing)" S STUDY "InstitutionName=$INST_LOWER"
expect_eq "  no match" 0 "$(responses q$N)"
FUZZY=
check "server still up" server_alive
stop_server
finish

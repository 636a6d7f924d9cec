#!/usr/bin/env bash
# C-FIND SCP against an oracle: a generated corpus (umlauts and other UTF-8 names) plus
# Greek (ISO_IR 126), Cyrillic (ISO_IR 144) and Latin-1 (ISO_IR 100) patients is stored,
# then findscu queries in both information models at every level must return exactly
# the entities tests/tools/query_oracle.py computes from the files, with the right
# values (names in UTF-8, computed counts, ModalitiesInStudy). Also: result limit,
# refused level, missing find grant, C-CANCEL and fuzzy person names.
source "$(dirname "$0")/../lib.sh"
ORACLE=$ROOT/tests/tools/query_oracle.py

echo "query: C-FIND matching, character sets, limits, cancel"
CORPUS=$WORK/corpus
"$PY" "$ROOT/../shared/tools/gen_corpus.py" --out "$CORPUS" --patients 12 --studies 2 \
  --series 2 --instances 3 >/dev/null
"$PY" "$ORACLE" extras "$WORK/extras"
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
expect_eq "index holds 148 instances" "instances: 148" "$("$TRESOR" stats --data "$DATA" | grep instances)"

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
expect_eq "  15 patients" 15 "$(responses q$N)"
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
expect_eq "  27 studies" 27 "$(responses q$N)"
q "S STUDY: single value PatientID" S STUDY PatientID=PID01000005 PatientName=
q "S STUDY: PatientName exact with umlaut (UTF-8)" S STUDY "PatientName=Schäfer^Giulia" PatientID=
expect_eq "  Schäfer has 2 studies" 2 "$(responses q$N)"
# The same name sent as Latin-1 bytes must be converted before matching.
fq latin1 S STUDY "SpecificCharacterSet=ISO_IR 100" "PatientName=$(printf 'Sch\xe4fer^Giulia')" PatientID=
check "S STUDY: PatientName exact with umlaut (ISO_IR 100 query)" \
  "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/latin1" "PatientName=Schäfer^Giulia" PatientID=
expect_eq "  Latin-1 query matches 2 studies" 2 "$(responses latin1)"
fq latin1b S STUDY "SpecificCharacterSet=ISO_IR 100" "PatientName=$(printf '\xc5ngstr\xf6m^Fran\xe7oise')"
check "S STUDY: Latin-1 stored name found by a Latin-1 query" \
  "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/latin1b" "PatientName=Ångström^Françoise"
expect_eq "  one study" 1 "$(responses latin1b)"
q "S STUDY: prefix wildcard Sch*" S STUDY "PatientName=Sch*"
q "S STUDY: prefix wildcard with umlaut Schä*" S STUDY "PatientName=Schä*"
q "S STUDY: prefix wildcard Ö*" S STUDY "PatientName=Ö*"
q "S STUDY: infix wildcard *er*" S STUDY "PatientName=*er*"
q "S STUDY: ? matches one character, also a multi-byte one (Rossi^Zo?)" S STUDY "PatientName=Rossi^Zo?"
expect_eq "  Rossi^Zoë has 2 studies" 2 "$(responses q$N)"
q "S STUDY: ?mith^Lui?" S STUDY "PatientName=?mith^Lui?"
q "S STUDY: wildcards are case-sensitive (sch* finds nothing)" S STUDY "PatientName=sch*"
expect_eq "  no match" 0 "$(responses q$N)"
q "S STUDY: wildcard on AccessionNumber" S STUDY "AccessionNumber=ACC0100000?01"
q "S STUDY: ReferringPhysicianName wildcard" S STUDY "ReferringPhysicianName=Smith^*"
q "S STUDY: StudyDate single value" S STUDY "StudyDate=$(value StudyDate StudyInstanceUID="$STUDY2")"
q "S STUDY: StudyDate closed range 20160101-20181231" S STUDY StudyDate=20160101-20181231
q "S STUDY: StudyDate open low 20240101-" S STUDY StudyDate=20240101-
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

echo "-- character sets"
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
q "fuzzy: schafer* finds Schäfer" S STUDY "PatientName=schafer*"
expect_eq "  two studies" 2 "$(responses q$N)"
q "fuzzy: o'brien^jurgen (exact, lower case, no accents)" S STUDY "PatientName=o'brien^jurgen"
expect_eq "  two studies" 2 "$(responses q$N)"
q "fuzzy: *OZTURK* finds Öztürk" P PATIENT "PatientName=*OZTURK*"
q "fuzzy: ÖZTÜRK* (upper case with accents) finds Öztürk" S STUDY "PatientName=ÖZTÜRK*"
q "fuzzy: yilmaz* finds Yılmaz (dotless i)" S STUDY "PatientName=yilmaz*"
q "fuzzy: rossi^zo?" S STUDY "PatientName=rossi^zo?"
q "fuzzy: *AYSE" S STUDY "PatientName=*AYSE"
q "fuzzy: Greek keeps its case (διον* finds nothing)" S STUDY "PatientName=διον*"
expect_eq "  no match" 0 "$(responses q$N)"
q "fuzzy: Greek exact name still matches" S STUDY "PatientName=Διονυσιος^Γιαννης"
q "fuzzy: angstrom^francoise finds the Latin-1 patient" S STUDY "PatientName=angstrom^francoise"
q "fuzzy: referring physician muller^eve*" S STUDY "ReferringPhysicianName=muller^eve*"
q "fuzzy: non-PN attributes stay case-sensitive (klinikum* finds nothing)" S STUDY "InstitutionName=klinikum*"
FUZZY=
check "server still up" server_alive
stop_server
finish

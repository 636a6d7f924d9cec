#!/usr/bin/env bash
# S38: the fields of an A-ASSOCIATE-RQ that DCMTK's parser lets through are refused, and
# every refusal ends the connection at once.
#   - AE title fields holding a NUL (DCMTK reads "HOSTILE\0\0..." as "HOSTILE"), other
#     control bytes or a backslash: A-ASSOCIATE-RJ, calling (reason 3) or called (7) AE
#     title not recognized;
#   - presentation context IDs that are even, zero or repeated (PS3.8 9.3.2.2: odd
#     integers 1-255; 7.1.1.13: unique): A-ASSOCIATE-RJ permanent, source service
#     provider (ACSE), no reason given (PS3.8 9.2.2 AE-6: not acceptable to the provider);
#   - after an A-ASSOCIATE-RJ or an A-ABORT (a max-PDU of 1, an unsupported command) the
#     peer reads end of stream right away: ARTIM is set to an hour here, so a server
#     waiting for the peer to close first would leave the connection open;
#   - from an address no peer is registered for, a registered calling AE title and an
#     unknown one get byte-identical rejections (the decision itself does the same work
#     for both by construction: unit test PeerPolicyTest.RejectFromUnregisteredHost...).
# Each refusal is paired with the same request done right, which is accepted.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S38: A-ASSOCIATE-RQ fields, and connections ended right after a refusal"
init_data
sed -i 's/^artim_seconds = .*/artim_seconds = 3600/; s/^max_failures = .*/max_failures = 1000/' \
  "$DATA/tresor.conf"
check "ARTIM set to an hour" grep -qx 'artim_seconds = 3600' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
add_peer hostile HOSTILE echo
# A registered title whose host is not this one: from 127.0.0.1 it is "unregistered host".
"$TRESOR" peer add remote --ae REMOTE_AE --host 10.255.255.1 --allow echo --data "$DATA" >/dev/null

probe() { "$PY" "$TOOLS/associate_probe.py" --port "$PORT" --timeout 60 "$@" 2>&1; }
field() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }  # hex of a 16-byte field

# Controls: the same requests done right.
expect_eq "control: space-padded titles, context 1: accepted, C-ECHO answered" \
  "ac status=0x0000" "$(probe --then echo)"
expect_eq "control: contexts 1, 3, 255: accepted" "ac status=0x0000" \
  "$(probe --context-id 1 --context-id 3 --context-id 255 --then echo)"
expect_eq "control: the calling AE field given as bytes, space padded: accepted" "ac status=0x0000" \
  "$(probe --calling-field "$(field "HOSTILE         ")" --then echo)"

# AE title fields.
NUL_CALLING="$(field HOSTILE)000000000000000000"
expect_eq "calling AE title padded with NUL: rejected (calling AE not recognized), then EOF" \
  "rj result=1 source=1 reason=3 eof" "$(probe --calling-field "$NUL_CALLING")"
expect_eq "called AE title padded with NUL: rejected (called AE not recognized), then EOF" \
  "rj result=1 source=1 reason=7 eof" "$(probe --called-field "$(field TRESOR)00000000000000000000")"
expect_eq "calling AE title with a NUL inside: rejected" \
  "rj result=1 source=1 reason=3 eof" "$(probe --calling-field "$(field HOS)00$(field "TILE        ")")"
expect_eq "calling AE title with a control byte: rejected" \
  "rj result=1 source=1 reason=3 eof" "$(probe --calling-field "$(field HOSTILE)01$(field "        ")")"
expect_eq "calling AE title of spaces only: rejected" \
  "rj result=1 source=1 reason=3 eof" "$(probe --calling-field "$(field "                ")")"

# Presentation context IDs.
expect_eq "even presentation context ID 2: rejected (provider, no reason), then EOF" \
  "rj result=1 source=2 reason=1 eof" "$(probe --context-id 2)"
expect_eq "presentation context ID 0: rejected" \
  "rj result=1 source=2 reason=1 eof" "$(probe --context-id 0)"
expect_eq "presentation context ID 1 twice: rejected" \
  "rj result=1 source=2 reason=1 eof" "$(probe --context-id 1 --context-id 3 --context-id 1)"
expect_eq "an even ID among odd ones (1, 4): rejected" \
  "rj result=1 source=2 reason=1 eof" "$(probe --context-id 1 --context-id 4)"

# Ending the connection right after an A-ABORT.
expect_eq "max-PDU of 1: the association is aborted, then EOF at once" \
  "ac abort source=0 reason=0 eof" "$(probe --max-pdu 1 --then echo)"
expect_eq "an unsupported command: aborted, then EOF at once" \
  "ac abort source=0 reason=0 eof" "$(probe --then bad-command)"

# Rejections from an address no peer is registered for.
known=$(probe --calling REMOTE_AE)
unknown=$(probe --calling NOBODY)
expect_eq "registered title from an unregistered host: rejected, then EOF" \
  "rj result=1 source=1 reason=3 eof" "$known"
expect_eq "unknown title from the same host: the identical answer" "$known" "$unknown"
check "both rejections logged with their reason" \
  bash -c "grep -q \"not registered for this host): calling AE 'REMOTE_AE'\" '$LOG' &&
           grep -q \"unknown calling AE title): calling AE 'NOBODY'\" '$LOG'"
check "the field refusals are logged" grep -q "AE title field holds bytes an AE title cannot" "$LOG"
check "the context ID refusals are logged" grep -q "presentation context ID 2 is not odd" "$LOG"

check "server still serving a real client (DCMTK echoscu)" \
  echoscu -aet HOSTILE -aec TRESOR 127.0.0.1 "$PORT"
check "server still up" server_alive
stop_server
finish

// STOW-RS (PS3.18 10.5): the body sink behind POST /dicom-web/studies[/{study}] and the one
// table from Status codes to Failure Reasons (0008,1197). AddStowRoutes (routes.h) registers
// the routes; this header is for tests and the conformance statement.
#pragma once

#include <cstdint>
#include <memory>

#include "archive/ingest_service.h"
#include "archive/principal.h"
#include "core/status.h"
#include "web/http_message.h"

namespace tresor::dicomweb {

// Failure Reason values (PS3.18 Table I.2-2; the last three are PS3.7 / implementation codes).
inline constexpr uint16_t kFailureOutOfResources = 0xA700;  // limits, storage full, I/O
inline constexpr uint16_t kFailureCannotUnderstand = 0xC000;  // not Part 10, malformed, bad UID
inline constexpr uint16_t kFailureTransferSyntaxNotSupported = 0xC122;
inline constexpr uint16_t kFailureProcessing = 0x0110;
inline constexpr uint16_t kFailureDuplicateSopInstance = 0x0111;  // same UID, other content
inline constexpr uint16_t kFailureNotAuthorized = 0x0124;
inline constexpr uint16_t kFailureStudyMismatch = 0xC409;  // POST /studies/{study}, other study

// The Failure Reason of a part the ingest path refused with `status`.
uint16_t StowFailureReason(const Status& status);

// The sink for one STOW-RS request whose head is `head` (path_params filled by the router),
// stored as `who` through `ingest` (which must outlive the sink). Refuses before any body
// byte is read: kPermissionDenied without the store grant; kUnsupported (415) unless the
// Content-Type is multipart/related with type application/dicom (or no type); kInvalidArgument
// (400) without a boundary or for a {study} that is not a UID.
//
// The sink answers 200 when every part was stored (identical duplicates count as stored),
// 202 when some were, 409 when none was, 400 when the body is not a complete multipart body
// with at least one part; the body is the Store Instances Response Module as
// application/dicom+json. Write() fails (the transport then answers 400 or 413 and closes) only
// for a body that cannot be parsed further: a part header block over 16 KiB or too many parts.
Result<std::unique_ptr<web::BodySink>> OpenStowSink(archive::IngestService& ingest,
                                                    const web::HttpRequest& head,
                                                    const archive::Principal& who);

}  // namespace tresor::dicomweb

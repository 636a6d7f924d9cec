// The transfer syntaxes Tresor accepts, and how their data sets are encoded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tresor::dicom {

// How the elements of a data set are laid out on the wire.
enum class Encoding { kImplicitLittle, kExplicitLittle, kExplicitBig, kDeflatedExplicitLittle };

inline constexpr char kImplicitVRLittleEndian[] = "1.2.840.10008.1.2";
inline constexpr char kExplicitVRLittleEndian[] = "1.2.840.10008.1.2.1";
inline constexpr char kDeflatedExplicitVRLittleEndian[] = "1.2.840.10008.1.2.1.99";
inline constexpr char kExplicitVRBigEndian[] = "1.2.840.10008.1.2.2";

// Transfer syntaxes accepted for storage. Of several proposed for one presentation
// context, the requestor's first accepted one is chosen (see dimse/server.cc).
const std::vector<std::string>& AcceptedTransferSyntaxes();

// The element encoding of `uid`, or nullopt-like false if `uid` is not accepted.
bool EncodingOf(std::string_view uid, Encoding* encoding);

}  // namespace tresor::dicom

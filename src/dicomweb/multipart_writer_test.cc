#include "dicomweb/multipart_writer.h"

#include <gtest/gtest.h>

#include <vector>

namespace tresor::dicomweb {
namespace {

// A writer over `bodies` (each with its length declared when `declare`).
MultipartWriter Writer(std::vector<std::string> bodies, bool declare, std::string boundary = "B") {
  auto state = std::make_shared<std::pair<std::vector<std::string>, size_t>>(std::move(bodies), 0);
  return MultipartWriter(boundary, [state, declare]() -> Result<std::optional<MultipartPart>> {
    if (state->second == state->first.size()) return std::optional<MultipartPart>();
    std::string body = state->first[state->second++];
    MultipartPart part;
    part.content_type = "application/dicom; transfer-syntax=1.2.840.10008.1.2.1";
    if (declare) part.length = body.size();
    part.body = std::make_unique<StringBodySource>(std::move(body));
    return std::optional<MultipartPart>(std::move(part));
  });
}

// Reads everything, `chunk` bytes at a time.
Result<std::string> Drain(web::BodySource& source, size_t chunk) {
  std::string out;
  std::vector<char> buf(chunk);
  while (true) {
    TRESOR_ASSIGN_OR_RETURN(size_t got, source.Read(buf.data(), buf.size()));
    if (got == 0) return out;
    out.append(buf.data(), got);
  }
}

TEST(MultipartWriter, FramesPartsWithTheBoundaryFirst) {
  auto writer = Writer({"first", "second!"}, true);
  auto body = Drain(writer, 1);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body,
            "--B\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
            "Content-Length: 5\r\n\r\nfirst"
            "\r\n--B\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
            "Content-Length: 7\r\n\r\nsecond!"
            "\r\n--B--\r\n");
}

TEST(MultipartWriter, WithoutLengthsAndInLargeReads) {
  auto writer = Writer({"x", ""}, false);
  auto body = Drain(writer, 1 << 16);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(
      *body,
      "--B\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\nx"
      "\r\n--B\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n"
      "\r\n--B--\r\n");
}

TEST(MultipartWriter, PredictedLengthIsExact) {
  std::string boundary = MultipartWriter::NewBoundary();
  std::vector<std::string> bodies = {"abc", std::string(70000, 'z'), "q"};
  uint64_t predicted = MultipartWriter::ClosingBytes(boundary);
  for (const std::string& b : bodies) {
    predicted += MultipartWriter::FramingBytes(
                     boundary, "application/dicom; transfer-syntax=1.2.840.10008.1.2.1", b.size()) +
                 b.size();
  }
  auto writer = Writer(bodies, true, boundary);
  auto body = Drain(writer, 4096);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->size(), predicted);
  EXPECT_EQ(body->rfind("--" + boundary + "--\r\n"), body->size() - boundary.size() - 6);
}

TEST(MultipartWriter, BoundariesAreFreshTokens) {
  std::string a = MultipartWriter::NewBoundary(), b = MultipartWriter::NewBoundary();
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c))) << a;
  EXPECT_LE(a.size(), 70u);  // RFC 2046
}

TEST(MultipartWriter, APartShorterOrLongerThanDeclaredIsAnError) {
  auto short_writer =
      MultipartWriter("B", [n = 0]() mutable -> Result<std::optional<MultipartPart>> {
        if (n++) return std::optional<MultipartPart>();
        MultipartPart part;
        part.content_type = "application/octet-stream";
        part.length = 10;
        part.body = std::make_unique<StringBodySource>("short");
        return std::optional<MultipartPart>(std::move(part));
      });
  EXPECT_FALSE(Drain(short_writer, 3).ok());
  auto long_writer =
      MultipartWriter("B", [n = 0]() mutable -> Result<std::optional<MultipartPart>> {
        if (n++) return std::optional<MultipartPart>();
        MultipartPart part;
        part.content_type = "application/octet-stream";
        part.length = 2;
        part.body = std::make_unique<StringBodySource>("longer");
        return std::optional<MultipartPart>(std::move(part));
      });
  EXPECT_FALSE(Drain(long_writer, 3).ok());
}

TEST(MultipartWriter, AnErrorFromTheNextPartStopsTheBody) {
  auto writer = MultipartWriter(
      "B", []() -> Result<std::optional<MultipartPart>> { return IoError("blob unreadable"); });
  auto body = Drain(writer, 64);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), Code::kIoError);
}

}  // namespace
}  // namespace tresor::dicomweb

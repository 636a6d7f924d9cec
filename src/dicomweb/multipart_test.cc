#include "dicomweb/multipart.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tresor::dicomweb {
namespace {

struct Part {
  web::HeaderList headers;
  std::string data;
  bool ended = false;
};

// Records the events; checks they come in a valid order.
class Recorder : public MultipartHandler {
 public:
  Status OnPartBegin(const web::HeaderList& headers) override {
    if (!parts.empty() && !parts.back().ended) return Internal("begin inside a part");
    parts.push_back(Part{headers, "", false});
    return Status::Ok();
  }
  Status OnPartData(std::string_view data) override {
    if (parts.empty() || parts.back().ended) return Internal("data outside a part");
    if (data.empty()) return Internal("empty data event");
    parts.back().data.append(data);
    return Status::Ok();
  }
  Status OnPartEnd() override {
    if (parts.empty() || parts.back().ended) return Internal("end outside a part");
    parts.back().ended = true;
    return Status::Ok();
  }
  std::vector<Part> parts;
};

struct Outcome {
  Status fed;
  Status finished;
  std::vector<Part> parts;
};

// Feeds `body` in pieces at the given cut positions.
Outcome Parse(const std::string& body, const std::string& boundary, std::vector<size_t> cuts = {},
              MultipartLimits limits = {}) {
  Recorder recorder;
  MultipartParser parser(boundary, recorder, limits);
  Outcome out;
  size_t at = 0;
  cuts.push_back(body.size());
  for (size_t cut : cuts) {
    if (cut < at) continue;
    out.fed = parser.Feed(std::string_view(body).substr(at, cut - at));
    at = cut;
    if (!out.fed.ok()) break;
  }
  out.finished = out.fed.ok() ? parser.Finish() : out.fed;
  out.parts = std::move(recorder.parts);
  return out;
}

const char kTwoParts[] =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Type: application/dicom\r\n"
    "\r\n"
    "first\r\npart\r\n"
    "--XyZ\r\n"
    "Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
    "X-Other:   spaced value  \r\n"
    "\r\n"
    "second\r\n"
    "--XyZ--\r\n"
    "epilogue to ignore\r\n";

void ExpectTwoParts(const Outcome& out) {
  ASSERT_TRUE(out.fed.ok()) << out.fed.ToString();
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_TRUE(out.parts[0].ended);
  EXPECT_TRUE(out.parts[1].ended);
  EXPECT_EQ(out.parts[0].data, "first\r\npart");
  EXPECT_EQ(out.parts[1].data, "second");
  ASSERT_EQ(out.parts[0].headers.size(), 1u);
  EXPECT_EQ(out.parts[0].headers[0].first, "Content-Type");
  EXPECT_EQ(out.parts[0].headers[0].second, "application/dicom");
  ASSERT_EQ(out.parts[1].headers.size(), 2u);
  EXPECT_EQ(out.parts[1].headers[0].second,
            "application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
  EXPECT_EQ(out.parts[1].headers[1].first, "X-Other");
  EXPECT_EQ(out.parts[1].headers[1].second, "spaced value");
}

TEST(MultipartParser, TwoPartsWithPreambleAndEpilogue) { ExpectTwoParts(Parse(kTwoParts, "XyZ")); }

TEST(MultipartParser, SplitAtEveryBytePosition) {
  std::string body = kTwoParts;
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    ExpectTwoParts(Parse(body, "XyZ", {cut}));
  }
  // And at every pair of positions (three pieces).
  for (size_t a = 0; a <= body.size(); a += 3) {
    for (size_t b = a; b <= body.size(); b += 5) {
      SCOPED_TRACE("cuts at " + std::to_string(a) + ", " + std::to_string(b));
      ExpectTwoParts(Parse(body, "XyZ", {a, b}));
    }
  }
}

TEST(MultipartParser, OneByteAtATime) {
  std::string body = kTwoParts;
  std::vector<size_t> cuts;
  for (size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
  ExpectTwoParts(Parse(body, "XyZ", cuts));
}

TEST(MultipartParser, BoundaryAtTheVeryStartAndNoEpilogue) {
  auto out = Parse("--b\r\nA: 1\r\n\r\nx\r\n--b--", "b");
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_EQ(out.parts[0].data, "x");
}

TEST(MultipartParser, BareLineFeeds) {
  auto out = Parse("--b\nContent-Type: application/dicom\n\nline1\nline2\n--b\n\nz\n--b--\n", "b");
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0].data, "line1\nline2");
  EXPECT_TRUE(out.parts[1].headers.empty());
  EXPECT_EQ(out.parts[1].data, "z");
}

TEST(MultipartParser, TransportPaddingAfterBoundaries) {
  auto out = Parse("--b  \t\r\n\r\ndata\r\n--b \r\n\r\nmore\r\n--b--  \r\n", "b");
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0].data, "data");
  EXPECT_EQ(out.parts[1].data, "more");
}

TEST(MultipartParser, EmptyContentAndPartsWithoutHeaders) {
  // A part whose header block is directly followed by the delimiter, one with an empty line
  // of content, one without headers at all.
  auto out = Parse("--b\r\nA: 1\r\n\r\n--b\r\nA: 2\r\n\r\n\r\n--b\r\n\r\nq\r\n--b--", "b");
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 3u);
  EXPECT_EQ(out.parts[0].data, "");
  EXPECT_TRUE(out.parts[0].ended);
  EXPECT_EQ(out.parts[1].data, "");
  EXPECT_TRUE(out.parts[2].headers.empty());
  EXPECT_EQ(out.parts[2].data, "q");
}

TEST(MultipartParser, BoundaryLikeBytesInsideContent) {
  // Content that starts like a delimiter but is not one stays content.
  std::string content =
      "a\r\n--boundar\r\n--boundaryX\r\n--boundary-x\r\n--boundaryZ--\r\n-boundary\r\n"
      "--boundary\tq\r\n--boundary\rx --boundary\r\n\r\n";
  std::string body = "--boundary\r\n\r\n" + content + "\r\n--boundary--\r\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto out = Parse(body, "boundary", {cut});
    ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
    ASSERT_EQ(out.parts.size(), 1u);
    EXPECT_EQ(out.parts[0].data, content);
  }
}

TEST(MultipartParser, MissingClosingBoundaryIsAnError) {
  for (const char* body : {"--b\r\n\r\nno end", "--b\r\n\r\nno end\r\n--b\r\n", "--b\r\nA: 1",
                           "--b\r\n\r\nnearly\r\n--b-", "just a preamble", ""}) {
    SCOPED_TRACE(body);
    auto out = Parse(body, "b");
    EXPECT_TRUE(out.fed.ok());
    EXPECT_EQ(out.finished.code(), Code::kInvalidArgument);
  }
  // The part completed before the truncation did end; the open one did not.
  auto out = Parse("--b\r\n\r\ndone\r\n--b\r\n\r\ncut", "b");
  EXPECT_EQ(out.finished.code(), Code::kInvalidArgument);
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_TRUE(out.parts[0].ended);
  EXPECT_FALSE(out.parts[1].ended);
}

TEST(MultipartParser, HugePartHeadersAreRefused) {
  MultipartLimits limits;
  limits.max_header_bytes = 1024;
  std::string big(2000, 'v');
  auto out = Parse("--b\r\nX-Big: " + big + "\r\n\r\nx\r\n--b--", "b", {}, limits);
  EXPECT_EQ(out.fed.code(), Code::kInvalidArgument);
  // Without a line end at all, in small pieces: refused once the block passes the limit.
  std::string endless = "--b\r\nX-Big: " + std::string(100000, 'v');
  std::vector<size_t> cuts;
  for (size_t i = 100; i < endless.size(); i += 100) cuts.push_back(i);
  out = Parse(endless, "b", cuts, limits);
  EXPECT_EQ(out.fed.code(), Code::kInvalidArgument);
  // Many short lines add up too.
  std::string lines = "--b\r\n";
  for (int i = 0; i < 200; ++i) lines += "A: b\r\n";
  out = Parse(lines + "\r\nx\r\n--b--", "b", {}, limits);
  EXPECT_EQ(out.fed.code(), Code::kInvalidArgument);
  // Just under the limit is fine.
  std::string ok_value(1024 - 16, 'v');
  out = Parse("--b\r\nX: " + ok_value + "\r\n\r\nx\r\n--b--", "b", {}, limits);
  EXPECT_TRUE(out.finished.ok()) << out.finished.ToString();
}

TEST(MultipartParser, MalformedHeaderLines) {
  for (const char* body :
       {"--b\r\nno colon here\r\n\r\nx\r\n--b--", "--b\r\n: no name\r\n\r\n--b--",
        "--b\r\n folded first\r\n\r\n--b--", "--b\r\nBad Name: x\r\n\r\n--b--"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(Parse(body, "b").fed.code(), Code::kInvalidArgument);
  }
  auto out = Parse("--b\r\nContent-Type: multipart/related;\r\n type=x\r\n\r\ny\r\n--b--", "b");
  ASSERT_TRUE(out.finished.ok());
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_EQ(out.parts[0].headers[0].second, "multipart/related; type=x");
}

TEST(MultipartParser, TooManyParts) {
  MultipartLimits limits;
  limits.max_parts = 3;
  std::string body;
  for (int i = 0; i < 3; ++i) body += "--b\r\n\r\nx\r\n";
  auto out = Parse(body + "--b--", "b", {}, limits);
  EXPECT_TRUE(out.finished.ok());
  EXPECT_EQ(out.parts.size(), 3u);
  out = Parse(body + "--b\r\n\r\nx\r\n--b--", "b", {}, limits);
  EXPECT_EQ(out.fed.code(), Code::kResourceExhausted);
}

TEST(MultipartParser, HandlerErrorsStopTheParser) {
  class Failing : public Recorder {
   public:
    Status OnPartData(std::string_view) override { return ResourceExhausted("full"); }
  } failing;
  MultipartParser parser("b", failing);
  EXPECT_EQ(parser.Feed("--b\r\n\r\ndata...").code(), Code::kResourceExhausted);
  EXPECT_EQ(parser.Feed("more").code(), Code::kResourceExhausted);
  EXPECT_EQ(parser.Finish().code(), Code::kResourceExhausted);
}

TEST(MultipartParser, BytesAfterTheClosingBoundaryAreIgnored) {
  Recorder recorder;
  MultipartParser parser("b", recorder);
  ASSERT_TRUE(parser.Feed("--b\r\n\r\nx\r\n--b--\r\n").ok());
  EXPECT_TRUE(parser.complete());
  ASSERT_TRUE(parser.Feed("--b\r\n\r\nnot a part\r\n--b--").ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_EQ(recorder.parts.size(), 1u);
}

TEST(MultipartParser, LargePiecesAreParsedInSlices) {
  // Parts of a few MiB, the whole body in one piece: boundaries straddling the parser's
  // internal slices are found, contents come back whole.
  std::string a(3 << 20, 'a'), b((1 << 20) + 17, '\r');
  for (size_t i = 0; i < a.size(); i += 4093) a[i] = '\n';
  std::string body = "--b\r\n\r\n" + a + "\r\n--b\r\n\r\n" + b + "\r\n--b--";
  auto out = Parse(body, "b");
  ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_TRUE(out.parts[0].data == a);
  EXPECT_TRUE(out.parts[1].data == b);
}

TEST(MultipartParser, RandomBinaryContentInRandomPieces) {
  std::mt19937 rng(12345);
  const std::string boundary = "----tresor-7f3a";
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> contents(1 + rng() % 5);
    std::string body = (rng() % 2) ? "some preamble\r\n" : "";
    for (std::string& c : contents) {
      size_t n = rng() % 3000;
      // Bytes drawn mostly from the boundary's own alphabet and line ends, so near-misses
      // of the delimiter are frequent.
      static const char kAlphabet[] = "\r\n-tresor7f3a\0\xff";
      for (size_t i = 0; i < n; ++i) c.push_back(kAlphabet[rng() % (sizeof kAlphabet - 1)]);
      if (c.find("\n--" + boundary) != std::string::npos) c.clear();
      body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + c + "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    std::vector<size_t> cuts;
    for (size_t at = 0; at < body.size(); at += 1 + rng() % 700) cuts.push_back(at);
    auto out = Parse(body, boundary, cuts);
    ASSERT_TRUE(out.finished.ok()) << out.finished.ToString();
    ASSERT_EQ(out.parts.size(), contents.size());
    for (size_t i = 0; i < contents.size(); ++i) {
      ASSERT_EQ(out.parts[i].data, contents[i]) << "round " << round << " part " << i;
    }
  }
}

}  // namespace
}  // namespace tresor::dicomweb

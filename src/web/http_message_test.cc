#include "web/http_message.h"

#include <gtest/gtest.h>

#include <string>

#include "web/json_body.h"

namespace tresor::web {
namespace {

TEST(HttpMessageTest, HeaderLookupIgnoresCase) {
  HttpRequest r;
  r.headers = {{"Content-Type", "application/json"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("X-A"), "1");
  EXPECT_EQ(r.Header("Authorization"), "");
}

TEST(HttpMessageTest, MediaType) {
  EXPECT_EQ(MediaType("Application/JSON; charset=utf-8"), "application/json");
  EXPECT_EQ(MediaType("  application/x-www-form-urlencoded "), "application/x-www-form-urlencoded");
  EXPECT_EQ(MediaType(""), "");
}

TEST(HttpMessageTest, ErrorIsJson) {
  HttpResponse r = HttpResponse::Error(404, "not \"found\"");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  auto body = ParseJsonBody(r.body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["error"], "not \"found\"");
}

TEST(HttpMessageTest, ErrorFromStatusHidesInternalDetails) {
  HttpResponse io = ErrorFromStatus(IoError("cannot write /var/tresor/secret/path"));
  EXPECT_EQ(io.status, 500);
  EXPECT_EQ(io.body.find("/var/tresor"), std::string::npos);
  HttpResponse bad = ErrorFromStatus(InvalidArgument("limit must be a number"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("limit must be a number"), std::string::npos);
  EXPECT_EQ(ErrorFromStatus(ResourceExhausted("x")).status, 429);
  HttpResponse later = ErrorFromStatus(TryAgainLater("back-off", 42));
  ASSERT_EQ(later.headers.size(), 1u);
  EXPECT_EQ(later.headers[0].first, "Retry-After");
  EXPECT_EQ(later.headers[0].second, "42");
  HttpResponse unsaid = ErrorFromStatus(ResourceExhausted("rate"));
  ASSERT_EQ(unsaid.headers.size(), 1u);
  EXPECT_EQ(unsaid.headers[0].second, "1") << "a 429 always says when";
  EXPECT_TRUE(ErrorFromBodyStatus(ResourceExhausted("x")).headers.empty()) << "413: no Retry-After";
  EXPECT_EQ(ErrorFromBodyStatus(ResourceExhausted("x")).status, 413);
}

TEST(HttpMessageTest, InvalidUtf8InErrorMessagesDoesNotThrow) {
  HttpResponse r = HttpResponse::Error(400, std::string("bad \xff\xfe byte"));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(ParseJsonBody(r.body).ok());
}

TEST(HttpMessageTest, FormUrlEncoded) {
  auto form = ParseFormUrlEncoded("username=ad%6Din&password=a+b%26c%3D&empty=");
  ASSERT_TRUE(form.ok()) << form.status().ToString();
  EXPECT_EQ(form->at("username"), "admin");
  EXPECT_EQ(form->at("password"), "a b&c=");
  EXPECT_EQ(form->at("empty"), "");
  EXPECT_TRUE(ParseFormUrlEncoded("").ok());
  EXPECT_TRUE(ParseFormUrlEncoded("a=1&&b=2").ok());
}

TEST(HttpMessageTest, FormUrlEncodedRejectsMalformedInput) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "novalue", "a=1&a=2"}) {
    auto form = ParseFormUrlEncoded(bad);
    EXPECT_FALSE(form.ok()) << bad;
    if (!form.ok()) {
      EXPECT_EQ(form.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

TEST(HttpMessageTest, TargetForLogDropsQueryValuesAndEscapes) {
  EXPECT_EQ(TargetForLog("/api/stats", ""), "/api/stats");
  EXPECT_EQ(TargetForLog("/studies", "PatientName=DOE^JOHN&limit=5"), "/studies?PatientName&limit");
  EXPECT_EQ(TargetForLog("/a\nb", ""), "/a\\x0ab");
  EXPECT_LE(TargetForLog("/" + std::string(1000, 'x'), "").size(), 260u);
}

TEST(JsonBodyTest, ParsesAndBoundsNesting) {
  EXPECT_TRUE(ParseJsonBody(R"({"a":[1,{"b":"[[[["}]})", 3).ok());
  EXPECT_FALSE(ParseJsonBody(std::string(100, '[') + std::string(100, ']'), 32).ok());
  EXPECT_FALSE(ParseJsonBody(std::string(1000000, '['), 32).ok());
  EXPECT_FALSE(ParseJsonBody("{\"a\":").ok());
  EXPECT_FALSE(ParseJsonBody("\"\xff\"").ok());  // invalid UTF-8
  EXPECT_FALSE(ParseJsonBody("").ok());
}

// User text (a user name created through the CLI) may be any bytes: serialising it never
// throws (which would turn a response into a 500); invalid sequences become U+FFFD.
TEST(JsonBodyTest, DumpOfInvalidUtf8NeverThrows) {
  std::string out;
  EXPECT_NO_THROW(out = DumpJson({{"user", std::string("bad\xff\xc3")}, {"ok", "b\xc3\xa4r"}}));
  EXPECT_EQ(out, "{\"ok\":\"b\xc3\xa4r\",\"user\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"}");
  auto back = ParseJsonBody(out);
  ASSERT_TRUE(back.ok()) << "the output is valid JSON";
}

}  // namespace
}  // namespace tresor::web

#include "core/config.h"

#include <gtest/gtest.h>

namespace tresor {
namespace {

TEST(ConfigTest, DefaultTextParsesToDefaults) {
  auto c = ParseConfig(DefaultConfigText());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Config d;
  EXPECT_EQ(c->ae_title, d.ae_title);
  EXPECT_EQ(c->bind_address, "127.0.0.1");
  EXPECT_EQ(c->dicom_port, 11112);
  EXPECT_EQ(c->max_object_bytes, d.max_object_bytes);
  EXPECT_TRUE(c->fsync);
}

TEST(ConfigTest, ReadsValues) {
  auto c = ParseConfig("[server]\nae_title = \"ARCH\" # comment\ndicom_port = 104\n"
                       "[storage]\nfsync = false\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ae_title, "ARCH");
  EXPECT_EQ(c->dicom_port, 104);
  EXPECT_FALSE(c->fsync);
}

TEST(ConfigTest, RejectsUnknownKeysAndBadValues) {
  EXPECT_FALSE(ParseConfig("[server]\nae_titel = \"X\"\n").ok());
  EXPECT_FALSE(ParseConfig("[server]\ndicom_port = 70000\n").ok());
  EXPECT_FALSE(ParseConfig("[server]\ndicom_port = \"104\"\n").ok());
  EXPECT_FALSE(ParseConfig("[storage]\nfsync = yes\n").ok());
  auto bad = ParseConfig("\n\n[server]\nnonsense\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 4"), std::string::npos);
}

}  // namespace
}  // namespace tresor

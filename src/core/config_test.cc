#include "core/config.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

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

TEST(ConfigTest, AuditForwardingKeys) {
  auto d = ParseConfig(DefaultConfigText());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->audit_forward_host, "") << "no forwarding by default";
  EXPECT_EQ(d->audit_forward_port, 6514);
  EXPECT_EQ(d->audit_forward_confirm_seconds, 2);
  auto c = ParseConfig("[audit]\nforward_host = \"logs.example\"\nforward_port = 10514\n"
                       "forward_ca_file = \"/etc/ca.pem\"\nforward_max_backoff_seconds = 5\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->audit_forward_host, "logs.example");
  EXPECT_EQ(c->audit_forward_port, 10514);
  EXPECT_EQ(c->audit_forward_ca_file, "/etc/ca.pem");
  EXPECT_EQ(c->audit_forward_max_backoff_seconds, 5);
  EXPECT_FALSE(ParseConfig("[audit]\nforward_port = 0\n").ok());
  EXPECT_FALSE(ParseConfig("[audit]\nforward_hots = \"x\"\n").ok());
}

TEST(ConfigTest, ReadsValues) {
  auto c = ParseConfig("[server]\nae_title = \"ARCH\" # comment\ndicom_port = 104\n"
                       "[storage]\nfsync = false\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ae_title, "ARCH");
  EXPECT_EQ(c->dicom_port, 104);
  EXPECT_FALSE(c->fsync);
}

TEST(ConfigTest, BackoffKeysAndTheOlderBlockSecondsName) {
  auto c = ParseConfig(DefaultConfigText());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->max_failures, 5);
  EXPECT_EQ(c->failure_window_seconds, 300);
  EXPECT_EQ(c->backoff_seconds, 10);
  EXPECT_EQ(c->max_backoff_seconds, 900);
  auto set = ParseConfig("[limits]\nmax_failures = 3\nbackoff_seconds = 2\nmax_backoff_seconds = 60\n");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->max_failures, 3);
  EXPECT_EQ(set->backoff_seconds, 2);
  EXPECT_EQ(set->max_backoff_seconds, 60);
  // A tresor.conf written before back-off names the longest refusal block_seconds.
  auto old = ParseConfig("[limits]\nblock_seconds = 120\n");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->max_backoff_seconds, 120);
  EXPECT_FALSE(ParseConfig("[limits]\nbackoff_seconds = 0\n").ok());
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


TEST(ConfigTest, WebConnectionKeysAndCorsOrigins) {
  auto d = ParseConfig(DefaultConfigText());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->web_max_connections_per_address, 32);
  EXPECT_EQ(d->web_handshake_timeout_seconds, 10);
  EXPECT_TRUE(d->web_cors_origins.empty());
  auto c = ParseConfig(
      "[web]\nmax_connections_per_address = 4\nhandshake_timeout_seconds = 3\n"
      "cors_origins = \"https://viewer.example:3000, http://localhost:8080\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->web_max_connections_per_address, 4);
  EXPECT_EQ(c->web_handshake_timeout_seconds, 3);
  EXPECT_EQ(c->web_cors_origins,
            (std::vector<std::string>{"https://viewer.example:3000", "http://localhost:8080"}));
  for (const char* bad : {"\"*\"", "\"https://a.example/path\"", "\"null\"", "\"ftp://a\"",
                          "\"https://\"", "\"https://A.example\""}) {
    EXPECT_FALSE(ParseConfig(std::string("[web]\ncors_origins = ") + bad + "\n").ok()) << bad;
  }
  EXPECT_FALSE(ParseConfig("[web]\nmax_connections_per_address = 0\n").ok());
}

}  // namespace
}  // namespace tresor

namespace tresor {

TEST(ConfigTest, IndexAndClusterKeys) {
  auto c = ParseConfig(DefaultConfigText());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->index_backend, "sqlite");
  EXPECT_EQ(c->cluster_node, "");
  auto pg = ParseConfig("[index]\nbackend = \"postgresql\"\npostgresql = \"service=tresor\"\n"
                        "require_tls = true\npool_size = 16\n[cluster]\nnode = \"node-2\"\n");
  ASSERT_TRUE(pg.ok()) << pg.status().message();
  EXPECT_EQ(pg->index_backend, "postgresql");
  EXPECT_EQ(pg->index_postgresql, "service=tresor");
  EXPECT_TRUE(pg->index_require_tls);
  EXPECT_EQ(pg->index_pool_size, 16);
  EXPECT_EQ(pg->cluster_node, "node-2");
  EXPECT_FALSE(ParseConfig("[index]\nbackend = \"mysql\"\n").ok());
  EXPECT_FALSE(ParseConfig("[index]\npool_size = 0\n").ok());
  EXPECT_FALSE(ParseConfig("[cluster]\nnode = \"a/b\"\n").ok());
  EXPECT_FALSE(ParseConfig("[cluster]\nnode = \"a b\"\n").ok());
}

TEST(ConfigTest, SetConfigValueKeepsTheRestOfTheFile) {
  const std::string text = DefaultConfigText();
  std::string changed = SetConfigValue(text, "cluster", "node", "\"b\"");
  auto c = ParseConfig(changed);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->cluster_node, "b");
  // Only that line differs: the comments are still there.
  EXPECT_NE(changed.find("This node's name"), std::string::npos);
  auto lines = [](const std::string& t) {
    std::vector<std::string> out;
    std::istringstream in(t);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  };
  auto before = lines(text), after = lines(changed);
  ASSERT_EQ(before.size(), after.size());
  int differing = 0;
  for (size_t i = 0; i < before.size(); ++i) differing += before[i] != after[i];
  EXPECT_EQ(differing, 1);
  // A key of another section with the same name is not touched.
  std::string two = SetConfigValue("[a]\nx = 1\n[b]\nx = 2\n", "b", "x", "3");
  EXPECT_EQ(two, "[a]\nx = 1\n[b]\nx = 3\n");
  // Missing key: added after the header; missing section: appended.
  EXPECT_EQ(SetConfigValue("[b]\ny = 2\n", "b", "x", "3"), "[b]\nx = 3\ny = 2\n");
  EXPECT_EQ(SetConfigValue("[a]\nx = 1\n", "b", "x", "3"), "[a]\nx = 1\n\n[b]\nx = 3\n");
  EXPECT_TRUE(QuoteConfigString("/srv/a b").ok());
  EXPECT_FALSE(QuoteConfigString("a\"b").ok());
}

}  // namespace tresor

#include "dimse/store_scu.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace tresor::dimse {
namespace {

// A loopback port nobody listens on (bound once to pick it, then closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// A refused connection is an I/O error; every DCMTK handle made on the way is freed
// (the sanitizer build checks for leaks).
TEST(StoreScuTest, ConnectionRefusedIsAnIoErrorAndLeaksNothing) {
  int port = ClosedPort();
  ASSERT_GT(port, 0);
  StoreScu::Options options;
  options.calling_ae = "TRESOR";
  options.called_ae = "NOBODY";
  options.host = "127.0.0.1";
  options.port = port;
  options.timeout_seconds = 5;
  auto scu = StoreScu::Connect(options, {{"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"}});
  ASSERT_FALSE(scu.ok());
  EXPECT_EQ(scu.status().code(), Code::kIoError) << scu.status().ToString();
}

}  // namespace
}  // namespace tresor::dimse

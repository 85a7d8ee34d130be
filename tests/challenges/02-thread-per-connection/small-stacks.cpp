// Small stacks: a connection thread reserves at most 256 KiB of address space, not 8 MiB
//
// The challenge: every connection thread gets the default stack, 8 MiB of address space on
// Linux (`ulimit -s`), when handle_connection needs a few KiB of it. Give the connection
// threads a stack of 64 KiB instead. std::thread has no parameter for it: use POSIX thread
// attributes (pthread_attr_setstacksize), on threads of your own (pthread_create) or as the
// process's default for new threads (glibc's pthread_setattr_default_np). The test counts
// the server's address space (VmSize in /proc/PID/status) before and after 20 silent
// clients connect, and allows 256 KiB per connection thread, stack and guard page included.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

using testing::eventually;

namespace {

// The process's address space, in KiB: the VmSize line of /proc/PID/status.
long vm_size_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.starts_with("VmSize:")) {
            return std::stol(line.substr(7));
        }
    }
    FAIL("no VmSize line in /proc/", pid, "/status");
    return 0;
}

} // namespace

TEST_CASE("20 silent clients cost the server at most 256 KiB of address space each") {
    constexpr int silent = 20;
    constexpr long allowed_kib = 256;
    testing::ServerProcess server;
    const int threads = testing::thread_count(server.pid()); // main, waiting in accept
    // One request first, so that what a server maps once, for its first connection thread
    // (glibc's malloc arena for that thread, say), is counted before, not as a per-thread cost.
    // Its thread may still be ending when the answer arrives: wait until it is gone.
    REQUIRE(testing::fetch(server.port()) == http::response);
    REQUIRE(eventually([&] { return testing::thread_count(server.pid()) <= threads; }, 5s));
    const long before = vm_size_kib(server.pid());

    std::vector<testing::Client> clients; // connect, then say nothing: each parks a thread
    for (int i = 0; i < silent; ++i) {
        clients.emplace_back(server.port());
    }
    {
        INFO("the server should start a thread for each of the ", silent, " silent clients");
        REQUIRE(eventually([&] { return testing::thread_count(server.pid()) >= threads + silent; }, 5s));
    }
    const long after = vm_size_kib(server.pid());

    const long per_thread = (after - before) / silent;
    INFO("VmSize went from ", before, " KiB to ", after, " KiB with ", silent,
         " connection threads: ", per_thread, " KiB each, for at most ", allowed_kib, " allowed");
    CHECK(per_thread <= allowed_kib);
}

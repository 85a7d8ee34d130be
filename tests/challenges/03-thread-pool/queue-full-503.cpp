// A bounded queue: when 64 connections wait for a worker, the next one is answered 503 at once
//
// The challenge: the pool's queue has no bound, so under a flood every connection waits, for
// as long as it takes, holding a file descriptor. Let at most 64 connections wait for a worker
// (`constexpr std::size_t kMaxQueued = 64;`). A connection accepted while 64 wait is not
// queued: the accept loop answers it at once with exactly these bytes, then closes it:
//
//   "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
//
// The connections already queued are served as before, once a worker is free.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "thread_pool.hpp"

#include <doctest/doctest.h>

#include <sys/syscall.h>

#include <dirent.h>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

using testing::eventually;

namespace {

constexpr std::string_view service_unavailable = "HTTP/1.1 503 Service Unavailable\r\n"
                                                 "Content-Length: 0\r\n"
                                                 "Connection: close\r\n"
                                                 "\r\n";

// How many of the process's threads are blocked in recv (the recvfrom system call, which
// TcpStream::read makes): /proc/PID/task/TID/syscall starts with the number of the system
// call a blocked thread is in.
int threads_in_recv(pid_t pid) {
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    int count = 0;
    if (DIR* dir = ::opendir(tasks.c_str())) {
        while (dirent* entry = ::readdir(dir)) {
            std::ifstream file(tasks + "/" + entry->d_name + "/syscall");
            long number = -1;
            if (entry->d_name[0] != '.' && file >> number && number == SYS_recvfrom) {
                ++count;
            }
        }
        ::closedir(dir);
    }
    return count;
}

} // namespace

TEST_CASE("with every worker busy and 64 connections queued, the next connection gets a 503") {
    constexpr std::size_t max_queued = 64;
    testing::ServerProcess server;
    const int fds = testing::open_fd_count(server.pid());

    // kWorkers silent clients, each holding a worker in read.
    std::vector<testing::Client> stalled;
    for (std::size_t i = 0; i < kWorkers; ++i) {
        stalled.emplace_back(server.port());
    }
    {
        INFO("each of the ", kWorkers, " workers should be reading from a silent client");
        REQUIRE(eventually([&] { return threads_in_recv(server.pid()) == int(kWorkers); }, 5s));
    }

    // 64 clients send their request, and wait in the queue: the server accepts them (each
    // costs it a file descriptor, which is how the test knows), and answers none yet.
    std::vector<testing::Client> queued;
    for (std::size_t i = 0; i < max_queued; ++i) {
        queued.emplace_back(server.port());
        REQUIRE(queued.back().send(testing::get_request));
    }
    {
        INFO("the server should accept and keep all ", kWorkers + max_queued, " connections");
        REQUIRE(eventually([&] {
            return testing::open_fd_count(server.pid()) >= fds + int(kWorkers + max_queued);
        }, 5s));
    }

    testing::Client overflow(server.port());
    REQUIRE(overflow.send(testing::get_request));
    {
        INFO("the queue is full: this client should be answered 503 at once, and closed");
        CHECK(overflow.read_to_end(2s) == service_unavailable);
    }

    // The workers come free, and every queued client gets its answer, in full.
    stalled.clear();
    for (std::size_t i = 0; i < queued.size(); ++i) {
        INFO("queued client ", i, " should be served once the workers are free");
        REQUIRE(queued[i].read_to_end(5s) == http::response);
    }
    INFO("with the queue empty again, a new client should be served");
    CHECK(testing::fetch(server.port()) == http::response);
}

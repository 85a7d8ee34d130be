// A cap on threads: at most 64 connection threads, however many clients are connected
//
// The challenge: every open connection costs a thread, with no limit, so a hundred silent
// clients make a hundred threads. Allow at most 64 connection threads at a time
// (`constexpr std::ptrdiff_t kMaxConnectionThreads = 64;`): when 64 are running, the
// accept loop waits for one of them to end before it starts another. Clients beyond the
// 64th wait (in the kernel's backlog, or accepted and not yet read), and are served as
// soon as a thread is free.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace std::chrono_literals;

using testing::eventually;

TEST_CASE("100 silent clients get at most 64 threads, and the server serves again once they leave") {
    constexpr int cap = 64;
    constexpr int silent = 100;
    testing::ServerProcess server;
    const int threads = testing::thread_count(server.pid()); // main, waiting in accept

    std::vector<testing::Client> clients; // connect, then say nothing
    for (int i = 0; i < silent; ++i) {
        clients.emplace_back(server.port());
    }
    // The server starts threads at its own pace, and nothing announces "done": watch /proc.
    int now = 0;
    auto count = [&] { return now = testing::thread_count(server.pid()); };
    INFO("the server had ", threads, " thread(s) before ", silent, " silent clients connected");
    REQUIRE(eventually([&] { return count() >= threads + cap; }, 5s));
    // It should stop at the cap; no event says "no more threads are coming": watch a moment.
    bool over = eventually([&] { return count() > threads + cap; }, 500ms);
    INFO("with them connected it has ", now, ": ", now - threads, " connection threads, for at most ",
         cap, " allowed");
    CHECK_FALSE(over);

    // The threads end with their connections, and each one ended makes room for the next.
    clients.clear();
    INFO("once the silent clients have gone, a new client should be served");
    CHECK(testing::fetch(server.port(), testing::get_request, 5s) == http::response);
}

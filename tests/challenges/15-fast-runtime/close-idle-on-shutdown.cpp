// Close idle kept connections at shutdown: a client that keeps its connection open does not hold the exit
//
// The challenge: with --keep-alive, a client that got its answer and keeps the connection
// open for its next request counts as in flight until it closes, or until --idle-ms has
// passed. On Ctrl-C the server then waits for it, up to the whole grace period, although
// it is answering nothing. Close such connections when the shutdown begins, as hyper's
// graceful shutdown does: a kept connection that is waiting between two requests (nothing of
// the next one has arrived) ends at once when serve() starts its Closing (closing.hpp), the
// way a lingering close already does. A request that has begun is still answered in full.
#include "http.hpp"
#include "http_client.hpp"
#include "kept.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <csignal>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

testing::ServerOptions kept_for_a_minute() {
    return {.extra_args = {"--keep-alive", "--idle-ms", "60000", "--grace-ms", "30000"}};
}

} // namespace

TEST_CASE("an idle kept connection is closed when the shutdown begins, and the server exits at once") {
    testing::ServerProcess server(kept_for_a_minute());
    testing::Client client(server.port());
    REQUIRE(client.send(testing::get_request));
    REQUIRE(testing::escaped(read_bytes(client, kept_response.size())) ==
            testing::escaped(kept_response));

    server.signal(SIGTERM);
    INFO("the client keeps its connection open, between two requests; the server should "
         "close it at once and exit 0, not wait 60 s for it to idle out (or 30 s of grace)");
    CHECK(client.closed_by_server(3s));
    std::optional<int> status = server.wait_exit(3s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("a request begun on a kept connection before the shutdown is still answered") {
    testing::ServerProcess server(kept_for_a_minute());
    testing::Client client(server.port());
    REQUIRE(client.send(testing::get_request));
    REQUIRE(testing::escaped(read_bytes(client, kept_response.size())) ==
            testing::escaped(kept_response));
    std::string request(testing::get_request);
    REQUIRE(client.send(request.substr(0, 10))); // the next request has begun...
    REQUIRE(server.wait_for_output("GET / HTTP/1.1", 2s));
    server.signal(SIGTERM);
    REQUIRE(server.wait_for_output("shutting down", 3s));
    REQUIRE(client.send(request.substr(10))); // ...and ends after the signal
    CHECK(testing::escaped(read_bytes(client, kept_response.size())) ==
          testing::escaped(kept_response));
}

// Serving well-behaved clients: the exact bytes, one client after another, many at once.
#include "behaviour.hpp"
#include "http.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace behaviour;

// Every request gets exactly the article's response (with its header typo fixed), byte for
// byte, and then the server closes the connection: that close is how the client knows the
// response is over.
TEST_CASE("exact response bytes") {
    testing::ServerProcess server;
    INFO(output_of(server));
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);

    // The same request in pieces, split inside "\r\n\r\n": until the blank line is complete
    // the server must keep waiting (no byte, no close), then answer in full.
    std::string request(testing::get_request);
    testing::Client client(server.port());
    REQUIRE(client.send(request.substr(0, 10)));
    REQUIRE(client.send(request.substr(10, request.size() - 12)));
    CHECK(what_arrives(client, 200ms) == "nothing"); // before the blank line: no answer yet
    REQUIRE(client.send(request.substr(request.size() - 2)));
    CHECK(client.read_to_end(2s) == http::response);
}

// The server goes back to accepting after each connection, and nothing leaks from one
// client to the next.
TEST_CASE("sequential clients") {
    testing::ServerProcess server;
    INFO(output_of(server));
    for (int i = 0; i < 50; ++i) {
        INFO("client ", i);
        REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
    }
}

// 50 clients connect before any of them sends, then all send, then all read: every one gets
// its own complete response, whatever order the server takes them in.
TEST_CASE("concurrent clients") {
    testing::ServerProcess server;
    INFO(output_of(server));
    std::vector<testing::Client> clients;
    for (int i = 0; i < 50; ++i) {
        clients.emplace_back(server.port());
    }
    for (auto& client : clients) {
        REQUIRE(client.send(testing::get_request));
    }
    auto deadline = Clock::now() + 5s; // for all of them together
    for (std::size_t i = 0; i < clients.size(); ++i) {
        INFO("client ", i);
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        REQUIRE(clients[i].read_to_end(std::max(left, 1ms)) == http::response);
    }
}

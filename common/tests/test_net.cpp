#include "http_client.hpp"
#include "net.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <vector>

TEST_CASE("port 0 binds a free port that clients can reach") {
    TcpListener listener = TcpListener::bind(0);
    CHECK(listener.port() != 0);
    testing::Client client(listener.port());
    CHECK(listener.accept().has_value());
}

TEST_CASE("a non-blocking listener and stream say 'would block' instead of blocking") {
    TcpListener listener = TcpListener::bind(0);
    listener.set_nonblocking();
    CHECK_FALSE(listener.accept().has_value());

    testing::Client client(listener.port());
    std::optional<TcpStream> stream;
    while (!stream) { // the connection may take a moment to reach the backlog
        stream = listener.accept();
    }
    stream->set_nonblocking();
    char buffer[16];
    CHECK_FALSE(stream->read(buffer).has_value());
    REQUIRE(client.send("hi"));
    std::optional<std::size_t> n;
    while (!n) {
        n = stream->read(buffer);
    }
    CHECK(*n == 2);
}

TEST_CASE("writing to a reset connection is an error, never a SIGPIPE") {
    TcpListener listener = TcpListener::bind(0);
    testing::Client client(listener.port());
    TcpStream stream = listener.accept().value();
    client.reset();
    std::string big(1 << 16, 'x');
    CHECK_THROWS_AS(
        {
            for (int i = 0; i < 100; ++i) {
                stream.write_all(big);
            }
        },
        std::system_error);
}

TEST_CASE("accept survives running out of file descriptors and recovers") {
    TcpListener listener = TcpListener::bind(0);
    listener.set_nonblocking();

    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    // Use up every descriptor this process may open, then lower the limit to that.
    std::vector<Fd> hog;
    rlimit low{64, saved.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (Fd fd(::dup(0)); fd; fd = Fd(::dup(0))) {
        hog.push_back(std::move(fd));
    }
    hog.pop_back(); // one free descriptor for the client socket
    testing::Client client(listener.port());

    // No descriptor is left for the accepted socket: the client is dropped, not left hanging,
    // and accept reports "nothing more to accept" instead of throwing or spinning.
    std::optional<TcpStream> accepted;
    CHECK_NOTHROW(accepted = listener.accept());
    CHECK_FALSE(accepted.has_value());
    CHECK(client.closed_by_server(std::chrono::seconds(5)));

    hog.clear();
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
    testing::Client later(listener.port());
    std::optional<TcpStream> recovered;
    for (int i = 0; i < 1000 && !recovered; ++i) {
        recovered = listener.accept();
    }
    CHECK(recovered.has_value());
}

// Connection: one client's socket and how far its exchange has got.
//
// A blocking server keeps "how far we got" on the stack of the thread that serves the
// client (handle_connection's loop). A non-blocking server serves many clients from one
// thread, so it cannot park on a read: each connection must remember where it stopped and
// pick up from there on the next call. That memory is the article's ConnectionState.
#pragma once

#include "http.hpp"
#include "net.hpp"

#include <cstddef>
#include <string_view>
#include <variant>

class Connection {
public:
    // Takes ownership of the accepted stream and makes it non-blocking (as the article does
    // with `set_nonblocking(true)` right after accept), so no read or write can ever park
    // the one thread that serves everyone.
    Connection(TcpStream stream, bool quiet);

    // Moves the exchange forward as far as the socket allows right now, without blocking.
    // Returns true when the connection is finished (the response is written, or the client
    // left before finishing its request) and can be dropped; false means "not now": call
    // advance again later, when the socket may have more to give. Stage 04 calls it on every
    // pass of its loop; stage 05 only when epoll reports the socket ready, which works
    // because advance always goes on until the socket says "would block".
    // Throws std::system_error if the socket fails (the client reset the connection): the
    // caller logs it and drops this connection, nobody else's.
    bool advance();

    int fd() const { return stream_.fd(); }

private:
    // The article's Rust enum
    //
    //     enum ConnectionState { Read { request, read }, Write { response, written }, Flush }
    //
    // is a tagged union: a value is exactly one of the variants, and each variant carries its
    // own fields. C++ spells that std::variant over one struct per variant. `match` /
    // `if let ConnectionState::Read { .. } = state` becomes std::get_if<Read>(&state_), and
    // assigning a new variant (`*state = ConnectionState::Write { .. }`) destroys the old
    // one, just as in Rust. The article's `request` + `read` pair is http::RequestBuffer.
    struct Read {
        http::RequestBuffer request;
    };
    struct Write {
        std::string_view response; // http::response or http::too_large_response: static bytes
        std::size_t written = 0;
    };
    struct Flush {};
    using State = std::variant<Read, Write, Flush>;

    TcpStream stream_;
    State state_ = Read{};
    bool quiet_;
};

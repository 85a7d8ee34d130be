// The benchmark's peer: the same server, written the way an Asio user would write it.
//
// It is not a stage of the workbook. It is the yardstick the benchmark holds our runtime
// against: a mature C++ event loop (standalone Asio, Debian's libasio-dev) doing the same
// work under the same contract as every stage: `--port`, `--quiet`, the readiness line,
// read until "\r\n\r\n" into the same 1024-byte http::RequestBuffer (431 when it fills),
// write the exact response bytes, close. One io_context run by one thread, like stage 05
// and like our runtime, so "CPU per request" compares designs, not thread counts.
//
// Simplification: if accept fails for lack of file descriptors, the peer logs the error and
// tries again at once, without the reserve-fd trick of common/net.cpp. The benchmark never
// runs it out of descriptors.
#include "http.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <asio.hpp>

#include <cstdio>
#include <memory>
#include <system_error>

namespace {

// Connection: one client's socket and request buffer. Each pending asynchronous operation
// holds a shared_ptr to it, so it lives exactly as long as Asio still has work for it;
// dropping the last one closes the socket (the usual Asio idiom, `shared_from_this`).
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(asio::ip::tcp::socket socket, bool quiet)
        : socket_(std::move(socket)), quiet_(quiet) {}

    void start() { read(); }

  private:
    void read() {
        std::span<char> unfilled = request_.unfilled();
        socket_.async_read_some(asio::buffer(unfilled.data(), unfilled.size()),
                                [self = shared_from_this()](std::error_code error, std::size_t n) {
                                    self->on_read(error, n);
                                });
    }

    void on_read(std::error_code error, std::size_t n) {
        if (error) {
            // EOF: the client went away before finishing its request. Anything else (a
            // reset) costs this connection only.
            if (error != asio::error::eof) {
                std::fprintf(stderr, "connection failed: %s\n", error.message().c_str());
            }
            return;
        }
        request_.filled(n);
        if (request_.complete() || request_.full()) {
            respond();
        } else {
            read();
        }
    }

    void respond() {
        // async_write loops over partial writes, like TcpStream::write_all does for the
        // blocking stages; Asio sends with MSG_NOSIGNAL, so a closed peer is an error code.
        std::string_view response = http::response_for(request_);
        asio::async_write(socket_, asio::buffer(response.data(), response.size()),
                          [self = shared_from_this()](std::error_code error, std::size_t) {
                              self->on_written(error);
                          });
    }

    void on_written(std::error_code error) {
        if (error) {
            std::fprintf(stderr, "connection failed: %s\n", error.message().c_str());
            return;
        }
        log_request(quiet_, request_.first_line(), http::response_for(request_));
        // The socket closes when the last shared_ptr (the handler that called us) goes away.
    }

    asio::ip::tcp::socket socket_;
    http::RequestBuffer request_;
    bool quiet_;
};

// Accepts forever: each accepted socket becomes a Connection, then the next accept is queued.
void accept(asio::ip::tcp::acceptor& acceptor, bool quiet) {
    acceptor.async_accept([&acceptor, quiet](std::error_code error, asio::ip::tcp::socket socket) {
        if (error) {
            std::fprintf(stderr, "accept failed: %s\n", error.message().c_str());
        } else {
            std::make_shared<Connection>(std::move(socket), quiet)->start();
        }
        accept(acceptor, quiet);
    });
}

} // namespace

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(
        argc, argv,
        {"asio-peer", "the benchmark's peer: standalone Asio, one io_context on one thread"});
    try {
        // The concurrency hint 1 tells Asio that one thread runs this io_context.
        asio::io_context io(1);
        asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), args.port);
        asio::ip::tcp::acceptor acceptor(io, endpoint); // reuse_address, bind, listen
        announce_listening(acceptor.local_endpoint().port());

        accept(acceptor, args.quiet);
        io.run();
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}

// The benchmark's peer: the same server, written the way an Asio user would write it.
//
// It is not a stage of the workbook. It is the yardstick the benchmark holds our runtime
// against: a mature C++ event loop (standalone Asio, Debian's libasio-dev) doing the same
// work under the same contract as every stage: `--port`, `--quiet`, the readiness line,
// read until "\r\n\r\n" into the same 1024-byte http::RequestBuffer (431 when it fills),
// write the exact response bytes, close. One io_context run by one thread, like stage 05
// and like our runtime, so "CPU per request" compares designs, not thread counts.
//
// `--keep-alive` serves HTTP/1.1 persistent connections instead, for tests/bench/run's
// keep-alive cells: each request gets `HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello
// world!` and the connection stays open; pipelined requests are answered in order (the answers
// to every request already read go out in one write); a request with `Connection: close` (or an
// HTTP/1.0 one) gets the usual close response, then the connection closes; one that has sent
// nothing for 5 s (`--idle-ms N`: N ms, stage 15's option) is closed. The tokio peer
// (tests/bench/tokio/) does the same.
//
// Simplification: if accept fails for lack of file descriptors, the peer logs the error and
// tries again at once, without the reserve-fd trick of common/net.cpp. The benchmark never
// runs it out of descriptors.
#include "http.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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

// --- --keep-alive -------------------------------------------------------------------------

constexpr std::string_view keep_alive_response = "HTTP/1.1 200 OK\r\n"
                                                 "Content-Length: 12\r\n"
                                                 "\r\n"
                                                 "Hello world!";

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

// Whether the client asks to close after this request: `Connection: close`, or HTTP/1.0.
bool wants_close(std::string_view request) {
    std::size_t end = request.find('\n');
    if (trim(request.substr(0, end)).ends_with("HTTP/1.0")) {
        return true;
    }
    while (end != std::string_view::npos) {
        std::size_t start = end + 1;
        end = request.find('\n', start);
        std::string_view line = request.substr(start, end - start);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos ||
            !equals_ignoring_case(trim(line.substr(0, colon)), "connection")) {
            continue;
        }
        std::string_view tokens = line.substr(colon + 1);
        while (!tokens.empty()) {
            std::size_t comma = tokens.find(',');
            if (equals_ignoring_case(trim(tokens.substr(0, comma)), "close")) {
                return true;
            }
            tokens = comma == std::string_view::npos ? "" : tokens.substr(comma + 1);
        }
    }
    return false;
}

// KeepAliveConnection: like Connection, but it answers request after request. Its buffer
// holds at most 1024 bytes of requests not answered yet; a request that fills it alone gets
// 431. The idle deadline is the usual Asio idiom (its timeouts examples): one timer per
// connection, and each read only moves `deadline_`; when the timer fires early, it waits
// again for the deadline as it is now.
class KeepAliveConnection : public std::enable_shared_from_this<KeepAliveConnection> {
  public:
    KeepAliveConnection(asio::ip::tcp::socket socket, bool quiet,
                        std::chrono::milliseconds idle_timeout)
        : socket_(std::move(socket)), timer_(socket_.get_executor()), quiet_(quiet),
          idle_timeout_(idle_timeout) {}

    void start() {
        deadline_ = std::chrono::steady_clock::now() + idle_timeout_;
        wait_for_deadline();
        read();
    }

  private:
    void wait_for_deadline() {
        timer_.expires_at(deadline_);
        timer_.async_wait([self = shared_from_this()](std::error_code error) {
            if (error || !self->socket_.is_open()) {
                return; // cancelled: the connection is closing
            }
            if (std::chrono::steady_clock::now() >= self->deadline_) {
                std::error_code ignored;
                self->socket_.close(ignored); // the pending read ends with operation_aborted
            } else {
                self->wait_for_deadline();
            }
        });
    }

    void read() {
        deadline_ = std::chrono::steady_clock::now() + idle_timeout_;
        socket_.async_read_some(asio::buffer(buffer_.data() + size_, buffer_.size() - size_),
                                [self = shared_from_this()](std::error_code error, std::size_t n) {
                                    self->on_read(error, n);
                                });
    }

    void on_read(std::error_code error, std::size_t n) {
        if (error) {
            if (error != asio::error::eof && error != asio::error::operation_aborted) {
                std::fprintf(stderr, "connection failed: %s\n", error.message().c_str());
            }
            return close();
        }
        size_ += n;
        respond();
    }

    // Answers every complete request in the buffer, in order, in one write; reads if none.
    void respond() {
        std::string_view unanswered(buffer_.data(), size_);
        std::size_t used = 0;
        bool closing = false;
        for (std::size_t end; !closing && (end = unanswered.find("\r\n\r\n", used)) !=
                                               std::string_view::npos;) {
            std::string_view request = unanswered.substr(used, end + 4 - used);
            closing = wants_close(request);
            std::string_view response = closing ? http::response : keep_alive_response;
            out_.append(response);
            log_request(quiet_, request.substr(0, request.find('\r')), response);
            used = end + 4;
        }
        if (!closing && used == 0 && size_ == buffer_.size()) {
            out_.append(http::too_large_response);
            log_request(quiet_, unanswered.substr(0, unanswered.find('\r')),
                        http::too_large_response);
            closing = true;
        }
        std::memmove(buffer_.data(), buffer_.data() + used, size_ - used);
        size_ -= used;
        if (out_.empty()) {
            return read();
        }
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this(), closing](std::error_code error, std::size_t) {
                              self->on_written(error, closing);
                          });
    }

    void on_written(std::error_code error, bool closing) {
        out_.clear();
        if (error) {
            std::fprintf(stderr, "connection failed: %s\n", error.message().c_str());
            return close();
        }
        if (closing) {
            return close();
        }
        read();
    }

    void close() {
        std::error_code ignored;
        timer_.cancel();
        socket_.close(ignored);
    }

    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    std::chrono::steady_clock::time_point deadline_;
    std::array<char, http::RequestBuffer::capacity> buffer_{};
    std::size_t size_ = 0;
    std::string out_;
    bool quiet_;
    std::chrono::milliseconds idle_timeout_;
};

// The peer's own options, which common/server_args does not know.
struct KeepAliveArgs {
    bool enabled = false;
    std::chrono::milliseconds idle{5000}; // --idle-ms
};

// Accepts forever: each accepted socket becomes a Connection, then the next accept is queued.
void accept(asio::ip::tcp::acceptor& acceptor, bool quiet, KeepAliveArgs keep_alive) {
    acceptor.async_accept(
        [&acceptor, quiet, keep_alive](std::error_code error, asio::ip::tcp::socket socket) {
            if (error) {
                std::fprintf(stderr, "accept failed: %s\n", error.message().c_str());
            } else if (keep_alive.enabled) {
                std::make_shared<KeepAliveConnection>(std::move(socket), quiet, keep_alive.idle)
                    ->start();
            } else {
                std::make_shared<Connection>(std::move(socket), quiet)->start();
            }
            accept(acceptor, quiet, keep_alive);
        });
}

} // namespace

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerInfo info{"asio-peer",
                    "the benchmark's peer: standalone Asio, one io_context on one thread"};
    // --keep-alive and --idle-ms are this peer's own options (stage 15's names): taken out
    // before the shared parser sees the rest.
    KeepAliveArgs keep_alive;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--keep-alive") {
            keep_alive.enabled = true;
        } else if (arg == "--idle-ms" || arg.starts_with("--idle-ms=")) {
            std::string_view value = arg.size() > 9 ? arg.substr(10) : std::string_view();
            if (arg.size() == 9 && i + 1 < argc) {
                value = argv[++i];
            }
            long ms = 0;
            auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), ms);
            if (value.empty() || err != std::errc{} || end != value.data() + value.size() ||
                ms < 1 || ms > 86'400'000) {
                std::fprintf(stderr,
                             "server: --idle-ms needs a number from 1 to 86400000, got "
                             "'%.*s'\n",
                             static_cast<int>(value.size()), value.data());
                return 2;
            }
            keep_alive.idle = std::chrono::milliseconds(ms);
        } else if (arg == "--help" || arg == "-h") {
            std::string usage = server_usage(info);
            usage.insert(usage.find(" [--help]"), " [--keep-alive] [--idle-ms N]");
            usage.insert(usage.find("  --help, -h"),
                         "  --keep-alive   keep connections open (HTTP/1.1), close those idle "
                         "for 5 s\n"
                         "  --idle-ms N    with --keep-alive, close a connection idle for N ms "
                         "(default 5000)\n");
            std::fputs(usage.c_str(), stdout);
            return 0;
        } else {
            rest.push_back(argv[i]);
        }
    }
    ServerArgs args = server_args_or_exit(static_cast<int>(rest.size()), rest.data(), info);
    try {
        // The concurrency hint 1 tells Asio that one thread runs this io_context.
        asio::io_context io(1);
        asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), args.port);
        asio::ip::tcp::acceptor acceptor(io, endpoint); // reuse_address, bind, listen
        announce_listening(acceptor.local_endpoint().port());

        accept(acceptor, args.quiet, keep_alive);
        io.run();
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}

// The server: serve() (server.hpp) on the runtime, with a graceful shutdown, and
// persistent connections with --keep-alive.
//
// On SIGINT (Ctrl-C) or SIGTERM the server stops accepting, lets the requests in flight
// finish, and exits with status 0 once none is left, or when the grace period (--grace-ms,
// 30 s by default) is over. A second signal during that wait exits at once, with status 130.
// A kept connection counts as in flight until it closes: at most --idle-ms after its last
// request.
#include "ctrl_c.hpp"
#include "keep_alive.hpp"
#include "scheduler.hpp"
#include "server.hpp"
#include "server_args.hpp"

#include "net.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

constexpr ServerInfo info{STAGE, "a faster runtime; HTTP/1.1 keep-alive with --keep-alive",
                          /*has_grace_period=*/true};

// This stage's own flags, which the other stages' common/server_args does not know: taken
// out of `args` here, the rest is left to parse_server_args.
http::KeepAlive take_keep_alive_args(std::vector<std::string_view>& args) {
    http::KeepAlive keep_alive;
    std::vector<std::string_view> rest;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--keep-alive") {
            keep_alive.enabled = true;
        } else if (arg == "--idle-ms" || arg.starts_with("--idle-ms=")) {
            std::string_view value = arg.size() > 9 ? arg.substr(10) : std::string_view();
            if (arg.size() == 9) {
                if (i + 1 == args.size()) {
                    throw UsageError("--idle-ms needs a value");
                }
                value = args[++i];
            }
            long ms = 0;
            auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), ms);
            if (value.empty() || err != std::errc{} || end != value.data() + value.size() ||
                ms < 1 || ms > 86'400'000) {
                throw UsageError("--idle-ms needs a number from 1 to 86400000, got '" +
                                 std::string(value) + "'");
            }
            keep_alive.idle = std::chrono::milliseconds(ms);
        } else {
            rest.push_back(arg);
        }
    }
    args = std::move(rest);
    return keep_alive;
}

std::string usage() {
    std::string text = server_usage(info);
    const std::string help_line = "  --help, -h";
    text.insert(text.find(help_line),
                "  --keep-alive   HTTP/1.1 persistent connections: answer request after request\n"
                "                 on one connection, without Connection: close\n"
                "  --idle-ms N    with --keep-alive, close a connection idle for N ms "
                "(default 5000)\n");
    text.replace(text.find(" [--help]"), 9, " [--keep-alive] [--idle-ms N] [--help]");
    return text;
}

} // namespace

int main(int argc, char** argv) {
    ignore_sigpipe();
    try {
        // First of all, before any thread exists (they inherit the mask), and before the
        // readiness line: from here on SIGINT and SIGTERM wait for a ctrl_c() future instead
        // of killing the process.
        block_shutdown_signals();
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
    std::vector<std::string_view> args(argv + 1, argv + argc);
    ServerArgs server_args;
    http::KeepAlive keep_alive;
    try {
        keep_alive = take_keep_alive_args(args);
        server_args = parse_server_args(args, info);
    } catch (const HelpRequested&) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    } catch (const UsageError& error) {
        std::fprintf(stderr, "server: %s\nTry 'server --help' for more information.\n",
                     error.what());
        return 2;
    }

    auto exit_status = std::make_shared<int>(1); // set to 0 by a completed graceful shutdown
    SCHEDULER.spawn(serve(server_args, exit_status, keep_alive));
    SCHEDULER.run();
    // run() returns once no task is left: after a graceful shutdown in which every request
    // finished, or if serve() failed (the port could not be bound): SCHEDULER logged why.
    return *exit_status;
}

// The command line every server stage shares:
//
//   server [--port N] [--quiet] [--help]            (stage 13 on: [--grace-ms N] too)
//
// Defaults: port 3000 on 127.0.0.1; `--port 0` lets the kernel pick a free port, which the
// readiness line then reports. Bad arguments print a clear message and exit with status 2.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct ServerArgs {
    std::uint16_t port = 3000;
    bool quiet = false;                      // no per-request log lines
    std::chrono::milliseconds grace{30'000}; // graceful shutdown's deadline (stage 13 on)
};

// What a stage's server says about itself in `--help`, and which options it takes.
struct ServerInfo {
    std::string_view name;  // "05-multiplexed"
    std::string_view about; // one line: what this stage's server does
    bool has_grace_period = false;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct HelpRequested {};

// Parses the arguments after the program name. Throws UsageError or HelpRequested.
ServerArgs parse_server_args(const std::vector<std::string_view>& args, const ServerInfo& info);

std::string server_usage(const ServerInfo& info);

// What `main` calls: parses argv, or prints help (exit 0) or an error (exit 2) and exits.
ServerArgs server_args_or_exit(int argc, char** argv, const ServerInfo& info);

#include "server_args.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace {

long parse_number(std::string_view option, std::string_view text, long min, long max) {
    long value = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || err != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max) {
        throw UsageError(std::string(option) + " needs a number from " + std::to_string(min) +
                         " to " + std::to_string(max) + ", got '" + std::string(text) + "'");
    }
    return value;
}

} // namespace

ServerArgs parse_server_args(const std::vector<std::string_view>& args, const ServerInfo& info) {
    ServerArgs result;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        std::string_view name = arg.substr(0, arg.find('='));
        bool takes_value = name == "--port" || (info.has_grace_period && name == "--grace-ms");

        std::string_view value;
        if (takes_value) {
            if (name.size() < arg.size()) {
                value = arg.substr(name.size() + 1); // --port=3000
            } else if (i + 1 < args.size()) {
                value = args[++i]; // --port 3000
            } else {
                throw UsageError(std::string(name) + " needs a value");
            }
        }

        if (arg == "--help" || arg == "-h") {
            throw HelpRequested{};
        } else if (arg == "--quiet" || arg == "-q") {
            result.quiet = true;
        } else if (name == "--port") {
            result.port = static_cast<std::uint16_t>(parse_number(name, value, 0, 65535));
        } else if (takes_value) { // --grace-ms
            result.grace = std::chrono::milliseconds(parse_number(name, value, 0, 86'400'000));
        } else {
            throw UsageError("unknown argument '" + std::string(arg) + "'");
        }
    }
    return result;
}

std::string server_usage(const ServerInfo& info) {
    std::string usage = "usage: server [--port N] [--quiet]";
    if (info.has_grace_period) {
        usage += " [--grace-ms N]";
    }
    usage += " [--help]\n\n";
    usage += std::string(info.name) + ": " + std::string(info.about) + "\n\n";
    usage += "Serves \"Hello world!\" to every HTTP request on 127.0.0.1.\n\n"
             "options:\n"
             "  --port N       port to listen on (default 3000; 0 picks a free port)\n"
             "  --quiet, -q    do not log each request on stdout\n";
    if (info.has_grace_period) {
        usage += "  --grace-ms N   on Ctrl-C, wait at most N ms for requests in flight "
                 "(default 30000)\n";
    }
    usage += "  --help, -h     show this help\n\n"
             "Once it accepts connections it prints: listening on http://127.0.0.1:PORT\n";
    return usage;
}

ServerArgs server_args_or_exit(int argc, char** argv, const ServerInfo& info) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    try {
        return parse_server_args(args, info);
    } catch (const HelpRequested&) {
        std::fputs(server_usage(info).c_str(), stdout);
        std::exit(0);
    } catch (const UsageError& error) {
        std::fprintf(stderr, "server: %s\nTry 'server --help' for more information.\n",
                     error.what());
        std::exit(2);
    }
}

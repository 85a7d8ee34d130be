#include "log.hpp"

#include <unistd.h>

#include <string>

void log_line(std::string_view line) {
    std::string out(line);
    out += '\n';
    std::string_view rest = out;
    while (!rest.empty()) {
        ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
        if (n <= 0) {
            return;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

void announce_listening(std::uint16_t port) {
    log_line("listening on http://127.0.0.1:" + std::to_string(port));
}

void log_request(bool quiet, std::string_view request_line, std::string_view response) {
    if (quiet) {
        return;
    }
    std::string line;
    for (char c : request_line) { // never echo control bytes from a client to a terminal
        line += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    // "HTTP/1.1 200 OK..." -> "200"
    line += " -> " + std::string(response.substr(9, 3));
    log_line(line);
}

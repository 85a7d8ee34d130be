// Output every server shares: the readiness line and the per-request log.
//
// Each line goes out in one write(2) to stdout, so lines from several threads never
// interleave and nothing sits in a stdio buffer when a test is waiting to read it.
#pragma once

#include <cstdint>
#include <string_view>

// Prints "listening on http://127.0.0.1:PORT", the line tests and scripts wait for.
void announce_listening(std::uint16_t port);

// Prints one line, adding the newline. Errors writing stdout are ignored: a server keeps
// serving even if nobody reads its log.
void log_line(std::string_view line);

// Logs a served request ("GET / HTTP/1.1 -> 200"), unless `quiet`.
void log_request(bool quiet, std::string_view request_line, std::string_view response);

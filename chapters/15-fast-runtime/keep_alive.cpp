#include "keep_alive.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace http {

namespace {

// Compares ASCII text without case (header names are ASCII: RFC 9110, section 5.1), without
// std::tolower's trip through the locale.
bool same_text(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [&](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trimmed(std::string_view text) {
    std::size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Calls `visit(name, value)` for each header line of `request` in turn (the value as it is,
// blanks and all: trimmed() it if the name is one you want), until `visit` returns true;
// then returns true. One pass over the headers, however many names the caller looks for.
template <class Visit>
bool find_header(std::string_view request, Visit visit) {
    std::size_t start = request.find("\r\n"); // skip the request line
    while (start != std::string_view::npos && start + 2 < request.size()) {
        std::size_t end = request.find("\r\n", start + 2);
        std::string_view line = request.substr(start + 2, end - (start + 2));
        start = end;
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos &&
            visit(line.substr(0, colon), line.substr(colon + 1))) {
            return true;
        }
    }
    return false;
}

} // namespace

// The value of the request's first header called `name`, without its surrounding blanks.
std::optional<std::string_view> header(std::string_view request, std::string_view name) {
    std::optional<std::string_view> found;
    find_header(request, [&](std::string_view header_name, std::string_view value) {
        if (same_text(header_name, name)) {
            found = trimmed(value);
        }
        return found.has_value();
    });
    return found;
}

bool wants_close(std::string_view request) {
    std::string_view values = header(request, "connection").value_or("");
    while (!values.empty()) {
        std::size_t comma = std::min(values.find(','), values.size());
        if (same_text(trimmed(values.substr(0, comma)), "close")) {
            return true;
        }
        values.remove_prefix(std::min(comma + 1, values.size()));
    }
    return false;
}

bool may_have_body(std::string_view request) {
    return find_header(request, [](std::string_view name, std::string_view value) {
        return same_text(name, "transfer-encoding") ||
               (same_text(name, "content-length") && trimmed(value) != "0");
    });
}

void Requests::filled(std::size_t n) {
    if (n > capacity - size_) {
        throw std::length_error("Requests::filled past the end of the buffer");
    }
    size_ += n;
}

std::optional<std::string_view> Requests::next() const {
    std::string_view all(bytes_.data(), size_);
    std::size_t blank = all.find("\r\n\r\n");
    if (blank == std::string_view::npos) {
        return std::nullopt;
    }
    return all.substr(0, blank + 4);
}

void Requests::take(std::string_view request) {
    // Moving the rest to the front costs a memmove of at most 1 KiB, once per request; a
    // ring buffer would avoid it, at the price of requests that wrap around its end.
    std::size_t rest = size_ - request.size();
    std::memmove(bytes_.data(), bytes_.data() + request.size(), rest);
    size_ = rest;
}

} // namespace http

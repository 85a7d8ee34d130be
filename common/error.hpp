// Errors carry errno and context, the way Rust's io::Error does.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

// Throws std::system_error for the current errno, e.g. `throw_errno("bind")`.
[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// True for the errno values that mean "not now, try again later" rather than failure.
inline bool is_would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK;
}

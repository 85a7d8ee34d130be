#include "http.hpp"

#include <algorithm>
#include <stdexcept>

namespace http {

void RequestBuffer::filled(std::size_t n) {
    if (n > capacity - size_) {
        throw std::length_error("RequestBuffer::filled past the end of the buffer");
    }
    // Only the new bytes (and the 3 before them, in case "\r\n\r\n" straddles two reads)
    // can complete the blank line, so there is no need to rescan the whole buffer.
    std::size_t from = size_ >= 3 ? size_ - 3 : 0;
    size_ += n;
    if (!complete_) {
        complete_ = bytes().find("\r\n\r\n", from) != std::string_view::npos;
    }
}

std::string_view RequestBuffer::first_line() const {
    std::string_view all = bytes();
    return all.substr(0, std::min(all.find("\r\n"), std::size_t{200}));
}

} // namespace http

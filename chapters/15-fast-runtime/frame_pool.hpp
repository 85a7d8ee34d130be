// frame_pool: recycles coroutine frames, one pool per thread.
//
// Every connection calls the same few coroutines (counted, handle, answer_one), so the server
// allocates and frees the same few frame sizes, request after request. malloc keeps freed
// blocks per thread too (glibc's tcache), but only blocks of up to 1,032 bytes, and
// answer_one's frame holds the article's 1,024-byte buffer: malloc's slow path, both ways,
// for every request. The pool keeps freed frames in a list per size (rounded up to 64
// bytes, up to 4 KiB), at most `kept_per_size` in each, and hands them out again: taking a
// frame from its list is a few instructions. A Task's promise allocates its frame here
// (task.hpp); the compiler calls promise_type::operator new for that.
//
// Under AddressSanitizer every frame goes back to malloc at once: a use of a destroyed frame
// must still be caught, and a pool would hide it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace frame_pool {

inline constexpr std::size_t granule = 64;         // sizes are rounded up to this
inline constexpr std::size_t largest = 4096;       // bigger frames go to malloc
inline constexpr std::size_t kept_per_size = 256;  // more freed frames than this go to malloc

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool enabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool enabled = false;
#else
inline constexpr bool enabled = true;
#endif
#else
inline constexpr bool enabled = true;
#endif

namespace detail {

struct FreeFrame {
    FreeFrame* next;
};

// The lists, in a trivially destructible object: it stays usable while the thread's other
// thread_local objects are destroyed (a frame may be freed then). Emptied by Drain.
struct Lists {
    FreeFrame* head[largest / granule];
    std::uint16_t count[largest / granule];
    bool closed; // the thread is ending: free, do not keep
};
inline thread_local constinit Lists lists{};

// Gives the kept frames back to malloc when the thread ends.
struct Drain {
    ~Drain() {
        lists.closed = true;
        for (FreeFrame*& head : lists.head) {
            while (FreeFrame* frame = head) {
                head = frame->next;
                ::operator delete(frame);
            }
        }
    }
};
inline thread_local Drain drain;

inline std::size_t size_class(std::size_t size) { return (size - 1) / granule; }

} // namespace detail

inline void* allocate(std::size_t size) {
    if (!enabled || size == 0 || size > largest) {
        return ::operator new(size);
    }
    std::size_t index = detail::size_class(size);
    if (detail::FreeFrame* frame = detail::lists.head[index]) {
        detail::lists.head[index] = frame->next;
        --detail::lists.count[index];
        return frame;
    }
    (void)&detail::drain; // makes sure the thread's Drain exists once a frame may be kept
    return ::operator new((index + 1) * granule);
}

inline void deallocate(void* memory, std::size_t size) noexcept {
    if (!enabled || size == 0 || size > largest) {
        ::operator delete(memory);
        return;
    }
    std::size_t index = detail::size_class(size);
    if (detail::lists.closed || detail::lists.count[index] == kept_per_size) {
        ::operator delete(memory);
        return;
    }
    auto* frame = static_cast<detail::FreeFrame*>(memory);
    frame->next = detail::lists.head[index];
    detail::lists.head[index] = frame;
    ++detail::lists.count[index];
}

} // namespace frame_pool

#include "reactor.hpp"

#include "error.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

thread_local Reactor REACTOR;

Notifier::Notifier() : eventfd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!eventfd_) {
        throw_errno("eventfd");
    }
}

void Notifier::notify() const noexcept {
    // Each write is a new edge for the edge-triggered registration, so the eventfd never has
    // to be read (mio does the same). A notify() that arrives before epoll_wait is entered
    // stays pending in the epoll set: it is not lost, the next wait returns at once.
    std::uint64_t one = 1;
    while (::write(eventfd_.get(), &one, sizeof one) < 0) {
        if (errno == EAGAIN) {
            // The counter is full (2^64 - 2 unread notifications): reset it, then write again.
            std::uint64_t count;
            [[maybe_unused]] ssize_t n = ::read(eventfd_.get(), &count, sizeof count);
        } else if (errno != EINTR) {
            return; // cannot happen with a valid eventfd and an 8-byte write
        }
    }
}

Reactor::Reactor() : epoll_(::epoll_create1(EPOLL_CLOEXEC)), notifier_(std::make_shared<Notifier>()) {
    if (!epoll_) {
        throw_errno("epoll_create1");
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = notifier_->fd();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, notifier_->fd(), &event) < 0) {
        throw_errno("epoll_ctl(ADD eventfd)");
    }
}

Reactor::~Reactor() {
    // Dropping a waker can drop the last reference to a task, whose future may call
    // REACTOR.remove() from its destructor: let that happen on an already empty map.
    std::unordered_map<int, Waker> wakers;
    wakers.swap(wakers_);
}

void Reactor::add(int fd, Waker waker) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.fd = fd;
    // EEXIST: this very fd (same open file) is registered already, and stays registered: only
    // the waker changes. We deliberately do not EPOLL_CTL_MOD it: MOD re-checks readiness and
    // reports a ready fd again, so a future that re-registers on every poll would be woken at
    // once, forever (a socket is nearly always writable).
    // A number that was closed without remove() and then reused is a new open file: ADD
    // succeeds, and the new waker below replaces the stale one.
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0 && errno != EEXIST) {
        throw_errno("epoll_ctl(ADD)");
    }
    auto [entry, inserted] = wakers_.try_emplace(fd, waker);
    if (!inserted) {
        std::swap(entry->second, waker); // the old waker dies at return, with the map consistent
    }
}

void Reactor::remove(int fd) noexcept {
    // ENOENT (not in the set) and EBADF (already closed, which removed it) leave nothing to
    // undo. Calling DEL before close matters: a registration belongs to the open file, not to
    // the number, and outlives close() if the fd was duplicated (dup, fork), firing under a
    // number that may by then belong to someone else.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    auto node = wakers_.extract(fd); // destroyed at return, after the map is consistent
}

void Reactor::wait(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(epoll_.get(), events, static_cast<int>(std::size(events)), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) {
            // A signal handler ran. epoll_wait is never restarted after one, whatever
            // SA_RESTART says (signal(7)). Nothing is wrong: return, like a spurious wake-up.
            return;
        }
        throw_errno("epoll_wait");
    }
    // Copy the wakers out first, then call them: a waker may add or remove registrations
    // (or drop the last reference to a task) while we would still be walking the map.
    std::vector<Waker> ready;
    ready.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == notifier_->fd()) {
            continue; // notify(): returning is all it asks for
        }
        if (auto entry = wakers_.find(fd); entry != wakers_.end()) {
            ready.push_back(entry->second);
        }
    }
    for (const Waker& waker : ready) {
        waker.wake();
    }
}

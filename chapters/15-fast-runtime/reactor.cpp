#include "reactor.hpp"

#include "error.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
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
    event.data.ptr = nullptr; // no IoState: the notifier's eventfd
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, notifier_->fd(), &event) < 0) {
        throw_errno("epoll_ctl(ADD eventfd)");
    }
}

Reactor::~Reactor() {
    // Dropping a waker can drop the last reference to a task, whose future's destructor
    // then calls remove() or remove_timer(): so the wakers are taken out first, and dropped
    // while every IoState a Registration points at still exists and the containers are
    // consistent. (Stage 14 dropped a map of wakers by fd; an IoState is reached by address.)
    std::vector<Waker> wakers;
    for (IoState* state = states_; state != nullptr; state = state->next_) {
        for (std::optional<Waker>* slot : {&state->reader_, &state->writer_}) {
            if (*slot) {
                wakers.push_back(std::move(**slot));
                slot->reset();
            }
        }
    }
    for (auto& [key, waker] : timers_) {
        wakers.push_back(std::move(waker));
    }
    wakers.clear();
    while (IoState* state = states_) { // registrations that outlive their thread's reactor
        states_ = state->next_;
        delete state;
    }
}

namespace {
std::uint32_t events_for(bool writes) {
    return EPOLLIN | EPOLLRDHUP | EPOLLET | (writes ? EPOLLOUT : 0u);
}
} // namespace

IoState& Reactor::add(int fd, Interest interest) {
    auto state = std::make_unique<IoState>(fd, interest);
    epoll_event event{};
    event.events = events_for(state->writes_watched());
    event.data.ptr = state.get();
    // A number that was closed without remove() and then reused is a new open file: ADD
    // succeeds, and its events carry the new IoState's address, never the stale one's.
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
        throw_errno("epoll_ctl(ADD)");
    }
    IoState* added = state.release();
    added->next_ = states_;
    if (states_ != nullptr) {
        states_->prev_ = added;
    }
    states_ = added;
    ++registrations_;
    return *added;
}

void Reactor::watch_writes(IoState& state) {
    epoll_event event{};
    event.events = events_for(true);
    event.data.ptr = &state;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, state.fd(), &event) < 0) {
        throw_errno("epoll_ctl(MOD)");
    }
    state.writes_watched_ = true;
}

void Reactor::remove(IoState& state) noexcept {
    // ENOENT (not in the set) and EBADF (already closed, which removed it) leave nothing to
    // undo. Calling DEL before close matters: a registration belongs to the open file, not to
    // the number, and outlives close() if the fd was duplicated (dup, fork), firing under a
    // number that may by then belong to someone else, with the address of a freed IoState.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, state.fd(), nullptr);
    (state.prev_ != nullptr ? state.prev_->next_ : states_) = state.next_;
    if (state.next_ != nullptr) {
        state.next_->prev_ = state.prev_;
    }
    --registrations_;
    delete &state; // its wakers die last, with the list consistent
}

Reactor::TimerKey Reactor::add_timer(Clock::time_point deadline, Waker waker) {
    TimerKey key{deadline, next_timer_id_++};
    timers_.emplace(key, std::move(waker));
    return key;
}

bool Reactor::update_timer(const TimerKey& key, const Waker& waker) {
    auto entry = timers_.find(key);
    if (entry == timers_.end()) {
        return false;
    }
    if (!entry->second.will_wake(waker)) {
        Waker old = std::exchange(entry->second, waker); // dropped at return, map consistent
    }
    return true;
}

void Reactor::remove_timer(const TimerKey& key) noexcept {
    auto node = timers_.extract(key); // empty if it fired already; destroyed after the erase
}

Reactor::Clock::time_point Reactor::now() {
    if (!now_) {
        now_ = Clock::now();
    }
    return *now_;
}

int Reactor::timeout_for(int timeout_ms) {
    if (timers_.empty()) {
        return timeout_ms;
    }
    now_.reset(); // the timeout must come from the time now, not the iteration's
    auto left = timers_.begin()->first.deadline - now();
    if (left <= Clock::duration::zero()) {
        return 0;
    }
    // Rounded up: epoll_wait counts whole milliseconds, and a wait that ended just before the
    // deadline would find nothing due and wait(0) again and again until it passed (a spin).
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    int nearest = ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
    return timeout_ms < 0 || nearest < timeout_ms ? nearest : timeout_ms;
}

void Reactor::wait(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(epoll_.get(), events, static_cast<int>(std::size(events)),
                         timeout_for(timeout_ms));
    now_.reset(); // time has passed in epoll_wait: the next now() reads the clock again
    if (n < 0) {
        if (errno != EINTR) {
            throw_errno("epoll_wait");
        }
        // A signal handler ran. epoll_wait is never restarted after one, whatever SA_RESTART
        // says (signal(7)). Nothing is wrong: no event, like a spurious wake-up, but the
        // timers that are due still fire.
        n = 0;
    }
    // Collect the wakers first, then call them: a waker may add or remove registrations and
    // timers (or drop the last reference to a task) while we would still be walking them.
    std::vector<Waker> ready = std::move(woken_); // empty, with the capacity of the last wait
    for (int i = 0; i < n; ++i) {
        auto* state = static_cast<IoState*>(events[i].data.ptr);
        if (state == nullptr) {
            continue; // notify(): returning is all it asks for
        }
        std::uint32_t what = events[i].events;
        bool readable = what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        bool writable = what & (EPOLLOUT | EPOLLHUP | EPOLLERR);
        if (readable) {
            state->readable_ = true;
            state->read_closed_ = state->read_closed_ || (what & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
            if (state->reader_) {
                ready.push_back(*state->reader_);
            }
        }
        if (writable) {
            state->writable_ = true;
            // One waker for both directions (Registration's simple form) is woken once.
            bool same = readable && state->reader_ && state->writer_ &&
                        state->reader_->will_wake(*state->writer_);
            if (state->writer_ && !same) {
                ready.push_back(*state->writer_);
            }
        }
    }
    // The clock is read only if there is a timer to compare it with.
    if (!timers_.empty()) {
        Clock::time_point now = this->now();
        while (!timers_.empty() && timers_.begin()->first.deadline <= now) {
            ready.push_back(std::move(timers_.begin()->second));
            timers_.erase(timers_.begin());
        }
    }
    for (const Waker& waker : ready) {
        waker.wake();
    }
    ready.clear();
    woken_ = std::move(ready); // (a wait() called by a waker found woken_ empty: fine)
}

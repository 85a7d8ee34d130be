// Closing: the server's "shutdown has begun", for the connections that are only lingering.
//
// A lingering close (server.hpp's close_lingering) keeps a connection's task alive for up to
// linger_bound after its response, waiting for the client to close. A graceful shutdown
// waits for every task, so it would wait for those too: a client that holds its socket open
// would hold the server's exit for the whole bound. Instead serve() calls start() once it
// stops accepting, and every lingering connection closes at once (its response is long
// delivered; only the FIN's courtesy is cut short). tokio's equivalent is a
// CancellationToken; hyper's graceful shutdown closes idle connections the same way.
//
// Only the runtime's thread uses it (the handlers and serve() are its tasks): no lock.
#pragma once

#include "future.hpp"
#include "waker.hpp"

#include <map>
#include <optional>
#include <utility>

class Closing {
  public:
    bool started() const { return started_; }

    // Wakes every task waiting in a Wait; from now on every Wait is ready at once.
    void start() {
        started_ = true;
        for (auto& [wait, waker] : std::exchange(waiting_, {})) {
            waker.wake();
        }
    }

    // A future that is ready once start() was called. Destroyed before that (its select
    // lost), it takes its waker back out, so no reference to its task stays behind.
    class Wait {
      public:
        using Output = Unit;
        explicit Wait(Closing& closing) : closing_(&closing) {}
        Wait(Wait&& other) noexcept : closing_(std::exchange(other.closing_, nullptr)) {}
        Wait& operator=(Wait&&) = delete;
        ~Wait() {
            if (closing_) {
                closing_->waiting_.erase(this);
            }
        }

        std::optional<Unit> poll(const Waker& waker) {
            if (closing_->started_) {
                return Unit{};
            }
            closing_->waiting_.insert_or_assign(this, waker);
            return std::nullopt;
        }

      private:
        Closing* closing_;
    };

    // The Closing must outlive the Wait (the server keeps it in a shared_ptr that every
    // handler holds).
    Wait wait() { return Wait(*this); }

  private:
    bool started_ = false;
    std::map<const Wait*, Waker> waiting_;
};

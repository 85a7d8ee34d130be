#include "ctrl_c.hpp"

#include <pthread.h>

#include <system_error>

sigset_t shutdown_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    return signals;
}

void block_shutdown_signals() {
    sigset_t signals = shutdown_signals();
    if (int error = ::pthread_sigmask(SIG_BLOCK, &signals, nullptr); error != 0) {
        throw std::system_error(error, std::generic_category(), "pthread_sigmask");
    }
}

SpawnBlocking ctrl_c() {
    return spawn_blocking([] {
        sigset_t signals = shutdown_signals();
        int signal = 0;
        // Blocks this thread until one of the signals is pending, and takes it. Nothing can
        // interrupt it, which is why the thread is detached (see spawn_blocking.hpp).
        ::sigwait(&signals, &signal);
    });
}

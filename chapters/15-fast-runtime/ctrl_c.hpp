// ctrl_c: a future that is ready when the process is asked to stop (SIGINT from Ctrl-C, or
// SIGTERM from kill or a service manager).
//
// The article's `ctrl_c()` is spawn_blocking of a thread that waits for SIGINT, and so is
// ours: the thread calls sigwait. sigwait only works if the signals are blocked, and blocked
// in every thread, or the kernel delivers them to a thread that is not waiting and the
// default action kills the process. Threads inherit the signal mask of the thread that
// creates them, so main calls block_shutdown_signals() first, before any thread exists,
// and before the readiness line is printed: a signal sent the moment the server says it is
// listening stays pending until a ctrl_c() thread takes it.
//
// tokio's ctrl_c does without a thread: a signal handler writes to a pipe that the reactor
// watches. A signalfd registered with our REACTOR would work the same way.
#pragma once

#include "spawn_blocking.hpp"

#include <csignal>

// SIGINT and SIGTERM.
sigset_t shutdown_signals();

// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts from now
// on. Call it in main before any thread is created. Throws std::system_error on failure.
void block_shutdown_signals();

// Ready when SIGINT or SIGTERM arrives (each signal is taken by one waiting ctrl_c() only).
// Needs block_shutdown_signals() to have been called in main.
SpawnBlocking ctrl_c();

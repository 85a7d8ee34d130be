// ServerProcess: runs a stage's `server` binary for a test, the way a reader would.
//
// It starts the binary with `--port 0`, waits (with a deadline, never a sleep) for the
// readiness line "listening on http://127.0.0.1:PORT", and reads the port from it. A
// background thread keeps reading the server's stdout so that its request log can never fill
// the pipe and block it; tests can wait for a given line. The destructor kills and reaps the
// process, so no test leaves a server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace testing {

using namespace std::chrono_literals;

struct ServerOptions {
    std::vector<std::string> extra_args; // after `--port 0`
    std::optional<long> max_open_files;  // RLIMIT_NOFILE for the server only
    std::chrono::milliseconds startup_timeout = 10s;
};

class ServerProcess {
  public:
    // `binary` defaults to the path in the SERVER environment variable, which Meson sets
    // for every test of a stage (and which a reader can point at a server of their own).
    explicit ServerProcess(ServerOptions options = {});
    ServerProcess(const std::string& binary, ServerOptions options);
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }

    bool alive();           // still running (not exited, not a zombie)
    void signal(int signo); // kill(pid, signo)

    // Waits for the process to exit; returns the raw wait status, or nullopt on timeout.
    // Once it returns a status, output() holds everything the process printed.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

    // Waits until a stdout line containing `text` has appeared (since the start).
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);
    std::string output(); // everything printed on stdout so far

    // The last `count` lines the server printed on stdout and on stderr, for a failing
    // check's report. (Its stderr is kept for this only: it is not echoed to the test's.)
    std::string last_output_lines(int count);

  private:
    void read_stdout();
    void stop(); // kills and reaps the process, joins the reader

    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1; // an in-memory file (memfd) that the server's stderr writes to
    std::uint16_t port_ = 0;
    bool reaped_ = false;
    int status_ = 0;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::string output_;
    bool stdout_closed_ = false;
    std::thread reader_;
};

// Path of the server under test: $SERVER, or a doctest failure if it is not set.
std::string server_binary_from_env();

// Figures from /proc/PID: CPU time of all its threads (utime + stime), open fds (pipes
// aside), threads.
std::chrono::milliseconds cpu_time(pid_t pid);
int open_fd_count(pid_t pid);
int thread_count(pid_t pid);

// Raises this process's soft limit on open files to its hard limit (servers started from here
// inherit it; the soft limit is often 1024) and returns the soft limit now in force, or -1 if
// it cannot be read.
long raise_fd_limit();

} // namespace testing

#include "server_process.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace testing {

std::string server_binary_from_env() {
    const char* path = std::getenv("SERVER");
    if (path == nullptr || *path == '\0') {
        FAIL("set SERVER to the path of the server binary to test");
    }
    return path;
}

ServerProcess::ServerProcess(ServerOptions options)
    : ServerProcess(server_binary_from_env(), std::move(options)) {}

ServerProcess::ServerProcess(const std::string& binary, ServerOptions options) {
    std::vector<std::string> args{binary, "--port", "0"};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    std::vector<char*> argv;
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
        throw std::runtime_error("pipe2 failed");
    }
    // stderr goes to an in-memory file, shown with a failing check only (last_output_lines):
    // a server that logs every bad client would otherwise flood the test's own output.
    stderr_fd_ = ::memfd_create("server-stderr", MFD_CLOEXEC);
    pid_ = ::fork();
    if (pid_ < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) { // child: only async-signal-safe calls until exec
        ::dup2(pipe_fds[1], STDOUT_FILENO);
        if (stderr_fd_ >= 0) {
            ::dup2(stderr_fd_, STDERR_FILENO);
        }
        if (options.max_open_files) {
            rlimit limit{static_cast<rlim_t>(*options.max_open_files),
                         static_cast<rlim_t>(*options.max_open_files)};
            ::setrlimit(RLIMIT_NOFILE, &limit);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    stdout_fd_ = pipe_fds[0];
    reader_ = std::thread([this] { read_stdout(); });

    const std::string ready = "listening on http://127.0.0.1:";
    if (!wait_for_output(ready, options.startup_timeout)) {
        std::string message = binary + " did not print '" + ready +
                              "PORT' in time (exec failed, or it exited early). " +
                              last_output_lines(20);
        stop(); // a constructor that throws gets no destructor call: clean up here
        throw std::runtime_error(message);
    }
    std::string out = output();
    port_ = static_cast<std::uint16_t>(std::stoi(out.substr(out.find(ready) + ready.size())));
}

ServerProcess::~ServerProcess() { stop(); }

void ServerProcess::stop() {
    if (!reaped_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        reaped_ = true;
    }
    if (reader_.joinable()) {
        reader_.join(); // the pipe closes once the server is gone
    }
    if (stderr_fd_ >= 0) {
        ::close(stderr_fd_);
        stderr_fd_ = -1;
    }
    if (stdout_fd_ >= 0) {
        ::close(stdout_fd_);
        stdout_fd_ = -1;
    }
}

void ServerProcess::read_stdout() {
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        std::lock_guard lock(mutex_);
        if (n <= 0) {
            stdout_closed_ = true;
            changed_.notify_all();
            return;
        }
        output_.append(buffer, static_cast<std::size_t>(n));
        changed_.notify_all();
    }
}

bool ServerProcess::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        return output_.find(text) != std::string::npos || stdout_closed_;
    }) && output_.find(text) != std::string::npos;
}

std::string ServerProcess::output() {
    std::lock_guard lock(mutex_);
    return output_;
}

namespace {
// The last `count` lines of `text` (all of it if it has fewer), ending in a newline.
std::string last_lines(const std::string& text, int count) {
    std::size_t start = text.size();
    if (start > 0 && text[start - 1] == '\n') {
        --start; // the final newline ends the last line, it does not start one
    }
    for (int lines = 0; start > 0; --start) {
        if (text[start - 1] == '\n' && ++lines == count) {
            break;
        }
    }
    std::string tail = text.substr(start);
    if (!tail.empty() && tail.back() != '\n') {
        tail += '\n';
    }
    return tail;
}
} // namespace

std::string ServerProcess::last_output_lines(int count) {
    std::string errors;
    char buffer[4096];
    for (off_t at = 0; stderr_fd_ >= 0;) {
        ssize_t n = ::pread(stderr_fd_, buffer, sizeof buffer, at);
        if (n <= 0) {
            break;
        }
        errors.append(buffer, static_cast<std::size_t>(n));
        at += n;
    }
    std::string out = output();
    return "stdout:\n" + (out.empty() ? "(nothing)\n" : last_lines(out, count)) + "stderr:\n" +
           (errors.empty() ? "(nothing)\n" : last_lines(errors, count));
}

bool ServerProcess::alive() {
    if (reaped_) {
        return false;
    }
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        return false;
    }
    return true;
}

void ServerProcess::signal(int signo) {
    if (!reaped_) {
        ::kill(pid_, signo);
    }
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
    // A pidfd becomes readable when the process exits: a readiness signal, not a sleep loop.
    int pidfd = alive() ? static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)) : -1;
    if (pidfd >= 0) {
        pollfd entry{pidfd, POLLIN, 0};
        ::poll(&entry, 1, static_cast<int>(timeout.count()));
        ::close(pidfd);
    }
    if (alive()) {
        return std::nullopt;
    }
    // The reader thread may not have appended the last lines yet: wait for it to see the pipe
    // close (the process is gone, so it will), so that output() holds everything printed.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return stdout_closed_; });
    return status_;
}

std::chrono::milliseconds cpu_time(pid_t pid) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int index = 3; fields >> field; ++index) {
        if (index == 14) {
            utime = std::stoll(field);
        } else if (index == 15) {
            stime = std::stoll(field);
            break;
        }
    }
    long ticks = ::sysconf(_SC_CLK_TCK);
    return std::chrono::milliseconds((utime + stime) * 1000 / ticks);
}

namespace {

// Counts the entries of a /proc directory for which `counts(path of the entry)` holds.
template <class Predicate>
int count_entries(const std::string& dir, Predicate counts) {
    int count = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* entry = ::readdir(d)) {
            if (entry->d_name[0] != '.' && counts(dir + "/" + entry->d_name)) {
                ++count;
            }
        }
        ::closedir(d);
    }
    return count;
}

} // namespace

// Counts every descriptor but pipes: sockets, epoll, eventfd and timerfd are what a leak
// leaks, while pipes come and go for reasons of their own (UBSan opens one for a moment at
// startup, which made leak baselines flaky under the sanitizers).
int open_fd_count(pid_t pid) {
    return count_entries("/proc/" + std::to_string(pid) + "/fd", [](const std::string& link) {
        char target[64] = {};
        return ::readlink(link.c_str(), target, sizeof target - 1) > 0 &&
               !std::string_view(target).starts_with("pipe:");
    });
}

int thread_count(pid_t pid) {
    return count_entries("/proc/" + std::to_string(pid) + "/task",
                         [](const std::string&) { return true; });
}

long raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return -1;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0 && ::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
            return -1;
        }
    }
    return static_cast<long>(limit.rlim_cur);
}

} // namespace testing

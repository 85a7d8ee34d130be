// http_load: what keep-alive buys, measured on the stage's own server. Not a test: nothing
// here asserts on a time (Meson runs it as a benchmark(), `meson test --benchmark`).
//
// It starts the server (`--port 0 --quiet`, plus `--keep-alive` for the kept modes), then
// for each mode runs `clients` threads that send requests for `seconds`, and prints
//   BENCH {"name": ..., "requests_per_s": X, "server_us_per_request": Y}
// Server CPU per request (its user + system time, from /proc, divided by the requests) is
// the figure to read on a small machine: the clients share its cores.
//
//   close      a new connection per request (what every stage does)
//   kept       one connection per client, request, response, request...
//   pipelined  one connection per client, 16 requests sent at once, then their 16 answers
//
// usage: http-load SERVER [--seconds N] [--clients N] [--close-only]
// (--close-only for a server without --keep-alive, such as stage 14's: the same figure, to
// compare with.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
constexpr std::size_t kept_response_size = 51;    // without Connection: close
constexpr std::size_t closing_response_size = 70; // http::response

struct Server {
    pid_t pid = -1;
    std::uint16_t port = 0;
};

Server start(const char* binary, bool keep_alive) {
    int out[2];
    if (::pipe(out) != 0) {
        std::perror("pipe");
        std::exit(1);
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        const char* args[] = {binary, "--port", "0", "--quiet", keep_alive ? "--keep-alive" : nullptr,
                              nullptr};
        ::execv(binary, const_cast<char* const*>(args));
        std::_Exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c = 0;
    while (::read(out[0], &c, 1) == 1 && c != '\n') {
        line += c;
    }
    std::size_t colon = line.rfind(':');
    if (colon == std::string::npos) {
        std::fprintf(stderr, "http-load: no readiness line from %s\n", binary);
        std::exit(1);
    }
    return {pid, static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)))};
}

double cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(all.substr(all.rfind(')') + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool read_exactly(int fd, std::size_t size) {
    char buffer[4096];
    while (size > 0) {
        ssize_t n = ::read(fd, buffer, std::min(size, sizeof buffer));
        if (n <= 0) {
            return false;
        }
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// One client's loop; returns the requests answered before `stop`.
long client(std::uint16_t port, std::string_view mode, const std::atomic<bool>& stop) {
    long answered = 0;
    std::string sixteen;
    for (int i = 0; i < 16; ++i) {
        sixteen += request;
    }
    int fd = mode == "close" ? -1 : connect_to(port);
    while (!stop.load(std::memory_order_relaxed)) {
        if (mode == "close") {
            int c = connect_to(port);
            if (c < 0) continue;
            bool ok = ::write(c, request.data(), request.size()) > 0 &&
                      read_exactly(c, closing_response_size);
            char rest;
            while (ok && ::read(c, &rest, 1) > 0) {} // to the server's FIN, as a browser would
            ::close(c);
            answered += ok;
        } else if (mode == "kept") {
            if (::write(fd, request.data(), request.size()) <= 0 || !read_exactly(fd, kept_response_size)) break;
            ++answered;
        } else {
            if (::write(fd, sixteen.data(), sixteen.size()) <= 0 || !read_exactly(fd, 16 * kept_response_size)) break;
            answered += 16;
        }
    }
    if (fd >= 0) ::close(fd);
    return answered;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: http-load SERVER [--seconds N] [--clients N]\n");
        return 2;
    }
    double seconds = 3;
    int clients = 4;
    bool close_only = false;
    for (int i = 2; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--close-only") close_only = true;
        if (flag == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        if (flag == "--clients" && i + 1 < argc) clients = std::atoi(argv[++i]);
    }
    ::signal(SIGPIPE, SIG_IGN);
    for (std::string_view mode : {"close", "kept", "pipelined"}) {
        if (close_only && mode != "close") {
            break;
        }
        Server server = start(argv[1], mode != "close");
        std::atomic<bool> stop{false};
        std::atomic<long> total{0};
        double cpu_before = cpu_seconds(server.pid);
        auto began = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int i = 0; i < clients; ++i) {
            threads.emplace_back([&] { total += client(server.port, mode, stop); });
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        stop = true;
        for (auto& t : threads) t.join();
        double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        double cpu = cpu_seconds(server.pid) - cpu_before;
        std::printf("BENCH {\"name\": \"%.*s\", \"clients\": %d, \"requests_per_s\": %.0f, "
                    "\"server_us_per_request\": %.2f}\n",
                    static_cast<int>(mode.size()), mode.data(), clients,
                    static_cast<double>(total) / took, 1e6 * cpu / static_cast<double>(total));
        std::fflush(stdout);
        ::kill(server.pid, SIGKILL);
        ::waitpid(server.pid, nullptr, 0);
    }
}

// bench/eddy_bench.cc - Google Benchmark harness for eddy.
//
// Micro benchmarks of the hot pieces (through micro_shim.c for internals):
//   BM_BufCycle/N        the lazy output buffer of a short write: pool get,
//                        append N, iovecs, consume, pool put
//   BM_BufRing/N         a held ring buffer: append N, consume 3/4 (wraps)
//   BM_EchoData/N/P      the echo handler's data path on one connection:
//                        data() -> eddy_send(v) -> write() to a socketpair,
//                        then the benchmark drains the peer (P=1: with the
//                        "Received: " prefix)
//   BM_SocketpairBaseline/N   the same write + drain without eddy: subtract
//                        it from BM_EchoData to see eddy's own cost
//   BM_ConfigParse       eddy_config_parse() of config/eddyd.conf's text
//
// End to end: BM_Loopback/conns/size/depth/workers starts eddy in-process
// through the public API (eddy_server_new, eddy_server_listen with the echo
// handler and prefix "", eddy_server_start, eddy_listener_port) and drives
// it from client threads (one per worker, each its own epoll loop over its
// share of the connections, closed loop with `depth` messages in flight,
// every reply byte checked).  One iteration = 1024 replies.  Counters:
//   items_per_second, bytes_per_second (payload, one direction)
//   srv_us_per_msg   the server's CPU time per message: the process's CPU
//                    time minus the client threads' and this thread's
//   cli_us_per_msg   the client threads' CPU time per message
//
// Run: build-bench/bench/eddy-bench [--benchmark_filter=Loopback]
//      [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/eddy.h"
#include "micro_shim.h"

extern "C" {
#include "builtin.h" /* eddy_echo_handler(): libeddy has no handler of its own */
}

namespace {

std::vector<char> make_bytes(size_t n, uint64_t seed)
{
    std::vector<char> v(n);
    uint64_t x = seed | 1;
    for (auto &c : v) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>(x >> 24);
    }
    return v;
}

double clock_s(clockid_t id)
{
    timespec ts;
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// ---- micro ----------------------------------------------------------------

void BM_BufCycle(benchmark::State &state)
{
    size_t n = static_cast<size_t>(state.range(0));
    auto src = make_bytes(n, 1);
    bench_bufs *b = bench_bufs_new(64 * 1024);
    if (!b) {
        state.SkipWithError("bench_bufs_new failed");
        return;
    }
    for (auto _ : state)
        benchmark::DoNotOptimize(bench_bufs_cycle(b, src.data(), n));
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
    bench_bufs_free(b);
}
BENCHMARK(BM_BufCycle)->Arg(64)->Arg(4096)->Arg(65536);

void BM_BufRing(benchmark::State &state)
{
    size_t n = static_cast<size_t>(state.range(0));
    auto src = make_bytes(n, 2);
    bench_bufs *b = bench_bufs_new(64 * 1024);
    if (!b) {
        state.SkipWithError("bench_bufs_new failed");
        return;
    }
    for (auto _ : state)
        benchmark::DoNotOptimize(bench_bufs_ring(b, src.data(), n));
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
    bench_bufs_free(b);
}
BENCHMARK(BM_BufRing)->Arg(64)->Arg(4096)->Arg(16384);

// Read everything available on fd (nonblocking); returns bytes read.
size_t drain_fd(int fd, std::vector<char> &sink)
{
    size_t got = 0;
    for (int i = 0; i < 64; i++) {
        ssize_t r = read(fd, sink.data(), sink.size());
        if (r <= 0)
            break;
        got += static_cast<size_t>(r);
        if (static_cast<size_t>(r) < sink.size())
            break;
    }
    return got;
}

void BM_EchoData(benchmark::State &state)
{
    size_t n = static_cast<size_t>(state.range(0));
    const char *prefix = state.range(1) ? "Received: " : "";
    size_t plen = strlen(prefix);
    auto src = make_bytes(n, 3);
    std::vector<char> sink(256 * 1024);
    bench_echo *f = bench_echo_new(prefix);
    if (!f) {
        state.SkipWithError("bench_echo_new failed");
        return;
    }
    int peer = bench_echo_peer(f);
    for (auto _ : state) {
        size_t used = bench_echo_feed(f, src.data(), n);
        size_t got = drain_fd(peer, sink);
        if (used != n || got != n + plen) {
            state.SkipWithError("echo reply of the wrong length");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
    bench_echo_free(f);
}
BENCHMARK(BM_EchoData)->ArgsProduct({{64, 4096, 65536}, {0, 1}});

void BM_SocketpairBaseline(benchmark::State &state)
{
    size_t n = static_cast<size_t>(state.range(0));
    auto src = make_bytes(n, 4);
    std::vector<char> sink(256 * 1024);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        state.SkipWithError("socketpair failed");
        return;
    }
    int sz = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    for (auto _ : state) {
        ssize_t w = write(sv[0], src.data(), n);
        size_t got = drain_fd(sv[1], sink);
        if (w != static_cast<ssize_t>(n) || got != n) {
            state.SkipWithError("short write");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
    close(sv[0]);
    close(sv[1]);
}
BENCHMARK(BM_SocketpairBaseline)->Arg(64)->Arg(4096)->Arg(65536);

const char kConfig[] =
    "# a typical configuration\n"
    "workers 0\n"
    "max_connections 10000\n"
    "pool_threads 4\n"
    "log_level info\n"
    "listen tcp 127.0.0.1:7777 {\n"
    "    handler echo\n"
    "    dispatch inline\n"
    "    high_water 1m\n"
    "    low_water 256k\n"
    "    max_message 1m\n"
    "    prefix \"Received: \"\n"
    "    close_after_reply off\n"
    "}\n"
    "listen tcp 127.0.0.1:7778 {\n"
    "    handler echo\n"
    "    prefix \"\"\n"
    "}\n";

void BM_ConfigParse(benchmark::State &state)
{
    char err[512];
    for (auto _ : state) {
        eddy_config *c = nullptr;
        if (eddy_config_parse(&c, "bench.conf", kConfig, sizeof kConfig - 1, err, sizeof err) < 0) {
            state.SkipWithError(err);
            break;
        }
        eddy_config_free(c);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sizeof kConfig - 1));
}
BENCHMARK(BM_ConfigParse);

// ---- end to end -------------------------------------------------------------

constexpr uint32_t kOffsets = 4093;
constexpr uint64_t kPerIteration = 1024; // replies per benchmark iteration

uint32_t pat_offset(uint32_t cid, uint64_t seq)
{
    uint64_t h = (seq + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t{cid} + 1) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return static_cast<uint32_t>(h % kOffsets);
}

struct Conn {
    int fd = -1;
    uint32_t id = 0;
    bool blocked = false;
    uint64_t issued = 0, send_seq = 0, recv_seq = 0;
    size_t send_off = 0, recv_off = 0;
};

// One client thread's connections and epoll loop.
class Client {
  public:
    Client(const char *pattern, size_t size, int depth) : pat_(pattern), size_(size), depth_(depth)
    {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        rd_.resize(256 * 1024);
    }
    ~Client()
    {
        for (auto &c : conns_)
            if (c.fd >= 0)
                close(c.fd);
        if (ep_ >= 0)
            close(ep_);
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    bool add(int port, uint32_t id)
    {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0) {
            close(fd);
            return false;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        conns_.emplace_back();
        Conn &c = conns_.back();
        c.fd = fd;
        c.id = id;
        c.issued = static_cast<uint64_t>(depth_);
        return true;
    }

    // Register every connection (after add(): the vector no longer moves)
    // and start the pipelines.
    bool start()
    {
        for (auto &c : conns_) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.ptr = &c;
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) < 0)
                return false;
            send(c);
        }
        return errors_ == 0;
    }

    // Run until `n` more replies completed; false on error or after 10 s.
    bool run(uint64_t n)
    {
        uint64_t target = done_ + n;
        double deadline = clock_s(CLOCK_MONOTONIC) + 10.0;
        epoll_event evs[256];
        while (done_ < target) {
            int k = epoll_wait(ep_, evs, 256, 100);
            if (k < 0 && errno != EINTR)
                return false;
            for (int i = 0; i < k; i++) {
                Conn &c = *static_cast<Conn *>(evs[i].data.ptr);
                if (c.fd < 0)
                    continue;
                if (evs[i].events & EPOLLOUT)
                    c.blocked = false;
                if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    read_all(c);
                if (c.fd >= 0)
                    send(c);
            }
            if (errors_)
                return false;
            if (k == 0 && clock_s(CLOCK_MONOTONIC) > deadline)
                return false;
        }
        return true;
    }

    uint64_t errors() const { return errors_; }
    uint64_t done() const { return done_; }

  private:
    void fail(Conn &c)
    {
        errors_++;
        close(c.fd);
        c.fd = -1;
    }

    void send(Conn &c)
    {
        while (!c.blocked && c.send_seq < c.issued) {
            iovec iov[64];
            int k = 0;
            size_t total = 0, off = c.send_off;
            for (uint64_t s = c.send_seq; s < c.issued && k < 64; s++, off = 0) {
                iov[k].iov_base = const_cast<char *>(pat_ + pat_offset(c.id, s) + off);
                iov[k].iov_len = size_ - off;
                total += iov[k++].iov_len;
            }
            ssize_t r = writev(c.fd, iov, k);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    c.blocked = true;
                else if (errno != EINTR)
                    fail(c);
                return;
            }
            size_t left = static_cast<size_t>(r);
            while (left > 0) {
                size_t rem = size_ - c.send_off;
                if (left >= rem) {
                    left -= rem;
                    c.send_seq++;
                    c.send_off = 0;
                } else {
                    c.send_off += left;
                    left = 0;
                }
            }
            if (static_cast<size_t>(r) < total)
                c.blocked = true;
        }
    }

    void read_all(Conn &c)
    {
        for (int guard = 0; guard < 1024; guard++) {
            ssize_t r = read(c.fd, rd_.data(), rd_.size());
            if (r > 0) {
                if (!check(c, rd_.data(), static_cast<size_t>(r)))
                    return;
                if (static_cast<size_t>(r) < rd_.size())
                    return;
                continue;
            }
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (r < 0 && errno == EINTR)
                continue;
            fail(c); // EOF or reset
            return;
        }
    }

    bool check(Conn &c, const char *p, size_t n)
    {
        while (n > 0) {
            size_t k = std::min(n, size_ - c.recv_off);
            if (c.recv_seq > c.send_seq || (c.recv_seq == c.send_seq && c.recv_off + k > c.send_off)) {
                fail(c); // more than was sent
                return false;
            }
            if (memcmp(p, pat_ + pat_offset(c.id, c.recv_seq) + c.recv_off, k) != 0) {
                fail(c);
                return false;
            }
            p += k;
            n -= k;
            c.recv_off += k;
            if (c.recv_off == size_) {
                c.recv_seq++;
                c.recv_off = 0;
                c.issued++;
                done_++;
            }
        }
        return true;
    }

    const char *pat_;
    size_t size_;
    int depth_;
    int ep_ = -1;
    std::vector<Conn> conns_;
    std::vector<char> rd_;
    uint64_t done_ = 0, errors_ = 0;
};

// eddy in-process plus its clients; kept between the calls Google Benchmark
// makes for one set of arguments.
class Rig {
  public:
    Rig(int conns, size_t size, int depth, int workers)
        : conns_(conns), size_(size), depth_(depth), workers_(workers)
    {
        pattern_ = make_bytes(size + kOffsets, 5);
        if (eddy_server_new(&srv_) < 0) {
            err_ = "eddy_server_new failed";
            return;
        }
        eddy_set_log_level(0);
        eddy_params *p = nullptr;
        eddy_listener *l = nullptr;
        eddy_params_new(&p);
        eddy_params_add(p, "prefix", "", 0);
        int rc = eddy_server_set_workers(srv_, workers);
        if (rc == 0)
            rc = eddy_server_listen(srv_, "127.0.0.1:0", eddy_echo_handler(), p, &l);
        eddy_params_free(p);
        if (rc == 0)
            rc = eddy_server_start(srv_);
        if (rc < 0) {
            err_ = std::string("eddy: ") + eddy_server_error(srv_);
            return;
        }
        started_ = true;
        int port = eddy_listener_port(l);
        int nclients = std::max(1, std::min(workers, conns));
        for (int i = 0; i < nclients; i++)
            clients_.push_back(std::make_unique<Client>(pattern_.data(), size, depth));
        for (int i = 0; i < conns; i++)
            if (!clients_[static_cast<size_t>(i % nclients)]->add(port, static_cast<uint32_t>(i))) {
                err_ = std::string("connect: ") + strerror(errno);
                return;
            }
        for (auto &c : clients_)
            if (!c->start()) {
                err_ = "client start failed";
                return;
            }
        // client threads beyond the first (which is the benchmark's own)
        for (size_t i = 1; i < clients_.size(); i++)
            threads_.emplace_back([this, i] { helper(i); });
        for (auto &t : threads_)
            helper_clocks_.push_back(clock_of(t));
    }

    ~Rig()
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_)
            t.join();
        clients_.clear();
        if (srv_) {
            if (started_) {
                eddy_server_stop(srv_);
                eddy_server_wait(srv_);
            }
            eddy_server_free(srv_);
        }
    }

    bool same(int conns, size_t size, int depth, int workers) const
    {
        return conns == conns_ && size == size_ && depth == depth_ && workers == workers_;
    }
    const std::string &error() const { return err_; }

    // One iteration: kPerIteration replies over all clients.
    bool iterate()
    {
        uint64_t share = kPerIteration / clients_.size();
        if (!threads_.empty()) {
            std::lock_guard<std::mutex> g(mu_);
            gen_++;
            pending_ = threads_.size();
            share_ = share;
        }
        cv_.notify_all();
        bool ok = clients_[0]->run(share);
        if (!threads_.empty()) {
            std::unique_lock<std::mutex> g(mu_);
            done_cv_.wait(g, [this] { return pending_ == 0; });
            ok = ok && !helper_failed_;
        }
        return ok;
    }

    // CPU seconds of the client helper threads.
    double helpers_cpu() const
    {
        double s = 0;
        for (clockid_t id : helper_clocks_)
            s += clock_s(id);
        return s;
    }
    uint64_t errors() const
    {
        uint64_t e = 0;
        for (auto &c : clients_)
            e += c->errors();
        return e;
    }

  private:
    static clockid_t clock_of(std::thread &t)
    {
        clockid_t id;
        pthread_getcpuclockid(t.native_handle(), &id);
        return id;
    }

    void helper(size_t i)
    {
        uint64_t seen = 0;
        for (;;) {
            uint64_t share;
            {
                std::unique_lock<std::mutex> g(mu_);
                cv_.wait(g, [&] { return quit_ || gen_ != seen; });
                if (quit_)
                    return;
                seen = gen_;
                share = share_;
            }
            bool ok = clients_[i]->run(share);
            std::lock_guard<std::mutex> g(mu_);
            if (!ok)
                helper_failed_ = true;
            if (--pending_ == 0)
                done_cv_.notify_one();
        }
    }

    int conns_;
    size_t size_;
    int depth_, workers_;
    std::vector<char> pattern_;
    eddy_server *srv_ = nullptr;
    bool started_ = false;
    std::string err_;
    std::vector<std::unique_ptr<Client>> clients_;
    std::vector<std::thread> threads_;
    std::vector<clockid_t> helper_clocks_;
    std::mutex mu_;
    std::condition_variable cv_, done_cv_;
    uint64_t gen_ = 0, share_ = 0;
    size_t pending_ = 0;
    bool quit_ = false, helper_failed_ = false;
};

std::unique_ptr<Rig> g_rig;

void BM_Loopback(benchmark::State &state)
{
    int conns = static_cast<int>(state.range(0));
    size_t size = static_cast<size_t>(state.range(1));
    int depth = static_cast<int>(state.range(2));
    int workers = static_cast<int>(state.range(3));
    if (!g_rig || !g_rig->same(conns, size, depth, workers)) {
        g_rig.reset();
        g_rig = std::make_unique<Rig>(conns, size, depth, workers);
    }
    if (!g_rig->error().empty()) {
        state.SkipWithError(g_rig->error().c_str());
        g_rig.reset();
        return;
    }
    double proc0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double self0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    double help0 = g_rig->helpers_cpu();
    bool ok = true;
    for (auto _ : state) {
        if (!g_rig->iterate()) {
            ok = false;
            break;
        }
    }
    double proc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0;
    double self = clock_s(CLOCK_THREAD_CPUTIME_ID) - self0;
    double help = g_rig->helpers_cpu() - help0;
    if (!ok) {
        std::string why = g_rig->errors() ? "reply verification failed" : "no progress for 10 s";
        state.SkipWithError(why.c_str());
        g_rig.reset();
        return;
    }
    double msgs = static_cast<double>(state.iterations()) * static_cast<double>(kPerIteration);
    state.SetItemsProcessed(static_cast<int64_t>(msgs));
    state.SetBytesProcessed(static_cast<int64_t>(msgs * static_cast<double>(size)));
    state.counters["srv_us_per_msg"] = (proc - self - help) * 1e6 / msgs;
    state.counters["cli_us_per_msg"] = (self + help) * 1e6 / msgs;
}

void LoopbackArgs(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"conns", "size", "depth", "workers"});
    for (int workers : {1, 2})
        for (int conns : {1, 64, 1000})
            for (int size : {64, 4096, 65536})
                for (int depth : {1, 16}) {
                    // keep what is in flight within reason (<= 64 MiB)
                    if (int64_t{conns} * depth * size > (int64_t{64} << 20))
                        continue;
                    if (workers == 2 && conns == 1)
                        continue;
                    b->Args({conns, size, depth, workers});
                }
}
BENCHMARK(BM_Loopback)->Apply(LoopbackArgs)->UseRealTime()->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char **argv)
{
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    g_rig.reset();
    benchmark::Shutdown();
    return 0;
}
